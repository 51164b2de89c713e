"""health samples keep what the kiosk healed by itself (Health.heal, issue 18 part 3)

Adds one nullable column, no data to convert; SQLite adds it with ALTER TABLE.

Revision ID: a8c3e5f17d24
Revises: 5d2e7c41a9b3
Create Date: 2026-12-04 02:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = 'a8c3e5f17d24'
down_revision = '5d2e7c41a9b3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('device_health_samples', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heal', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('device_health_samples', schema=None) as batch_op:
        batch_op.drop_column('heal')
