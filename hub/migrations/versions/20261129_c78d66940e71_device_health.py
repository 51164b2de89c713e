"""device health: status, last seen, telemetry samples, clock skew (hub/devices/health.py); index of punches by receive time

Revision ID: c78d66940e71
Revises: 901fed685f8d
Create Date: 2026-11-29 13:26:16.960760
"""

import sqlalchemy as sa
from alembic import op

revision = 'c78d66940e71'
down_revision = '901fed685f8d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('device_health',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('health_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('telemetry', sa.Text(), nullable=True),
    sa.Column('clock_skew_s', sa.Float(), nullable=True),
    sa.Column('sw_version', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('error_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], name=op.f('fk_device_health_device_id_devices')),
    sa.PrimaryKeyConstraint('device_id', name=op.f('pk_device_health'))
    )
    op.create_table('device_health_samples',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('device_ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('clock_skew_s', sa.Float(), nullable=False),
    sa.Column('uptime_s', sa.Float(), nullable=False),
    sa.Column('cpu_temp_c', sa.Float(), nullable=True),
    sa.Column('load1', sa.Float(), nullable=True),
    sa.Column('mem_free_mb', sa.Float(), nullable=True),
    sa.Column('disk_free_mb', sa.Float(), nullable=True),
    sa.Column('camera_fps', sa.Float(), nullable=True),
    sa.Column('outbox_depth', sa.BigInteger(), nullable=False),
    sa.Column('oldest_unacked_s', sa.Float(), nullable=True),
    sa.Column('gallery_version', sa.BigInteger(), nullable=False),
    sa.Column('sw_version', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], name=op.f('fk_device_health_samples_device_id_devices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_health_samples'))
    )
    with op.batch_alter_table('device_health_samples', schema=None) as batch_op:
        batch_op.create_index('ix_device_health_samples_device_id_id', ['device_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_health_samples_received_at'), ['received_at'], unique=False)

    with op.batch_alter_table('punches', schema=None) as batch_op:
        batch_op.create_index('ix_punches_received_at', ['received_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('punches', schema=None) as batch_op:
        batch_op.drop_index('ix_punches_received_at')

    with op.batch_alter_table('device_health_samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_health_samples_received_at'))
        batch_op.drop_index('ix_device_health_samples_device_id_id')

    op.drop_table('device_health_samples')
    op.drop_table('device_health')
