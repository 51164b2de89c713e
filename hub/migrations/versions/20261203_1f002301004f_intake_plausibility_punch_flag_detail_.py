"""intake plausibility: punch flag detail, punches by device and seq, kiosk alarms in health samples

Adds columns only (nullable, no data to convert) and one index, which
intake reads per batch: the highest stored seq of a kiosk (in its acks) and
seqs reused by a kiosk. SQLite adds them with ALTER TABLE, no table copy.

Revision ID: 1f002301004f
Revises: c78d66940e71
Create Date: 2026-12-03 19:48:06.152105
"""

from alembic import op
import sqlalchemy as sa


revision = '1f002301004f'
down_revision = 'c78d66940e71'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('device_health_samples', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alarms', sa.Text(), nullable=True))

    with op.batch_alter_table('punches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flag_detail', sa.Text(), nullable=True))
        batch_op.create_index('ix_punches_device_seq', ['device_id', 'seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('punches', schema=None) as batch_op:
        batch_op.drop_index('ix_punches_device_seq')
        batch_op.drop_column('flag_detail')

    with op.batch_alter_table('device_health_samples', schema=None) as batch_op:
        batch_op.drop_column('alarms')
