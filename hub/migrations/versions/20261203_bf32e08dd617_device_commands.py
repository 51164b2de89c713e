"""device commands: remote commands to kiosks and their results (hub/devices/models.py); refused messages by kiosk

Revision ID: bf32e08dd617
Revises: 77499f506cc2
Create Date: 2026-12-03 22:39:48.491700
"""

from alembic import op
import sqlalchemy as sa


revision = 'bf32e08dd617'
down_revision = '77499f506cc2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('device_commands',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('args', sa.Text(), nullable=False),
    sa.Column('employee_id', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('output', sa.Text(), nullable=True),
    sa.Column('templates_added', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], name=op.f('fk_device_commands_device_id_devices')),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.employee_id'], name=op.f('fk_device_commands_employee_id_employees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_commands'))
    )
    with op.batch_alter_table('device_commands', schema=None) as batch_op:
        batch_op.create_index('ix_device_commands_device_id_created_at', ['device_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_commands_state'), ['state'], unique=False)
    with op.batch_alter_table('rejected_messages', schema=None) as batch_op:
        batch_op.create_index('ix_rejected_messages_device_id_id', ['device_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('rejected_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_rejected_messages_device_id_id')
    with op.batch_alter_table('device_commands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_commands_state'))
        batch_op.drop_index('ix_device_commands_device_id_created_at')

    op.drop_table('device_commands')
