"""releases and rollouts: signed kiosk releases and their rollout in rings (hub/devices/models.py)

Revision ID: a4c1e9d27b60
Revises: a3c9e1f07b52
Create Date: 2026-12-04 02:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = 'a4c1e9d27b60'
down_revision = 'a3c9e1f07b52'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('releases',
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('manifest', sa.Text(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_releases'))
    )
    op.create_table('rollouts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('ring', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['version'], ['releases.version'], name=op.f('fk_rollouts_version_releases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollouts'))
    )
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollouts_state'), ['state'], unique=False)
    op.create_table('rollout_targets',
    sa.Column('rollout_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('ring', sa.Integer(), nullable=False),
    sa.Column('from_version', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('command_id', sa.String(length=36), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], name=op.f('fk_rollout_targets_device_id_devices')),
    sa.ForeignKeyConstraint(['rollout_id'], ['rollouts.id'], name=op.f('fk_rollout_targets_rollout_id_rollouts')),
    sa.PrimaryKeyConstraint('rollout_id', 'device_id', name=op.f('pk_rollout_targets'))
    )
    with op.batch_alter_table('rollout_targets', schema=None) as batch_op:
        batch_op.create_index('ix_rollout_targets_rollout_id_ring', ['rollout_id', 'ring'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rollout_targets', schema=None) as batch_op:
        batch_op.drop_index('ix_rollout_targets_rollout_id_ring')
    op.drop_table('rollout_targets')
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rollouts_state'))
    op.drop_table('rollouts')
    op.drop_table('releases')
