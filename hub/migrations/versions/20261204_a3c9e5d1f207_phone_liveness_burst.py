"""phone punches need a live person: the challenge drawn with each nonce, hashes of accepted frames,
and each site's office networks (issue 20 part 1)

Adds two nullable columns and one table; no data to convert.

Revision ID: a3c9e5d1f207
Revises: a4c1e9d27b60
Create Date: 2026-12-04 02:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = 'a3c9e5d1f207'
down_revision = 'a4c1e9d27b60'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phone_nonces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('challenge', sa.String(length=16), nullable=True))
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_networks', sa.JSON(), nullable=True))
    op.create_table(
        'phone_frame_hashes',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('employee_id', sa.String(length=64), nullable=False),
        sa.Column('punch_id', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sha256', name=op.f('pk_phone_frame_hashes')),
    )
    with op.batch_alter_table('phone_frame_hashes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phone_frame_hashes_employee_id'), ['employee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_phone_frame_hashes_punch_id'), ['punch_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('phone_frame_hashes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phone_frame_hashes_punch_id'))
        batch_op.drop_index(batch_op.f('ix_phone_frame_hashes_employee_id'))
    op.drop_table('phone_frame_hashes')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('phone_networks')
    with op.batch_alter_table('phone_nonces', schema=None) as batch_op:
        batch_op.drop_column('challenge')
