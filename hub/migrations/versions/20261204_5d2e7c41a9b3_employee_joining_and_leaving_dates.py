"""employee joining and leaving dates (the console's person form; leaving not before joining)

Adds two nullable columns, no data to convert; SQLite adds them with ALTER TABLE.

Revision ID: 5d2e7c41a9b3
Revises: bf32e08dd617
Create Date: 2026-12-04 00:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = '5d2e7c41a9b3'
down_revision = 'bf32e08dd617'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('joined_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('left_on', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_column('left_on')
        batch_op.drop_column('joined_on')
