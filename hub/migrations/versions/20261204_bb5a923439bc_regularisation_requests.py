"""regularisation requests: an employee asks to correct a day, an officer decides (hub/attendance/models.py)

A new table only; nothing to convert.

Revision ID: bb5a923439bc
Revises: 3c9e1a7d5b20
Create Date: 2026-12-04 02:20:36.218165
"""

from alembic import op
import sqlalchemy as sa


revision = 'bb5a923439bc'
down_revision = '3c9e1a7d5b20'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('regularisation_requests',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('employee_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attachment_file', sa.String(length=64), nullable=True),
    sa.Column('attachment_type', sa.String(length=64), nullable=True),
    sa.Column('attachment_bytes', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('remark', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.employee_id'], name=op.f('fk_regularisation_requests_employee_id_employees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_regularisation_requests'))
    )
    with op.batch_alter_table('regularisation_requests', schema=None) as batch_op:
        batch_op.create_index('ix_regularisation_requests_employee_day', ['employee_id', 'day'], unique=False)
        batch_op.create_index('ix_regularisation_requests_state_day', ['state', 'day'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('regularisation_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_regularisation_requests_state_day')
        batch_op.drop_index('ix_regularisation_requests_employee_day')

    op.drop_table('regularisation_requests')
