"""hrms push outbox: one row per (punch, target) of `hub hrms-push`

A new table only; nothing existing changes. No foreign key to punches: the
queue must never stand in the way of what happens to punches.

Revision ID: 77499f506cc2
Revises: 1f002301004f
Create Date: 2026-12-03 22:54:13.531015
"""

from alembic import op
import sqlalchemy as sa


revision = '77499f506cc2'
down_revision = '1f002301004f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hrms_outbox',
    sa.Column('punch_id', sa.String(length=36), nullable=False),
    sa.Column('target', sa.String(length=32), nullable=False),
    sa.Column('employee_id', sa.String(length=64), nullable=False),
    sa.Column('device_ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('external_id', sa.String(length=140), nullable=True),
    sa.PrimaryKeyConstraint('punch_id', 'target', name=op.f('pk_hrms_outbox'))
    )
    with op.batch_alter_table('hrms_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_hrms_outbox_target_pending', ['target', 'sent_at', 'refused_at', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_hrms_outbox_target_received', ['target', 'received_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('hrms_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_hrms_outbox_target_received')
        batch_op.drop_index('ix_hrms_outbox_target_pending')

    op.drop_table('hrms_outbox')
