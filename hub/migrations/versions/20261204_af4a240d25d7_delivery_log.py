"""delivery log: one row per scheduled report sent, so a re-run timer does not send it again (hub/delivery/models.py)

A new table only; nothing to convert.

Revision ID: af4a240d25d7
Revises: bb5a923439bc
Create Date: 2026-12-04 02:58:08.768992
"""

from alembic import op
import sqlalchemy as sa


revision = 'af4a240d25d7'
down_revision = 'bb5a923439bc'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delivery_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('job', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('recipient', sa.String(length=500), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_log')),
    sa.UniqueConstraint('job', 'period', 'target', 'channel', 'recipient', name=op.f('uq_delivery_log_job'))
    )


def downgrade() -> None:
    op.drop_table('delivery_log')
