"""shift grace: minutes after a rostered shift's start a punch-in is still on time (not late)

One column with a default of 0, so every existing shift keeps judging late exactly as before.

Revision ID: c4d7e2a9b1f3
Revises: af4a240d25d7
Create Date: 2026-12-04 06:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = 'c4d7e2a9b1f3'
down_revision = 'af4a240d25d7'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grace_min', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.drop_column('grace_min')
