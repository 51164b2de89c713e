"""phone fallback tables: credentials, bindings, activations, sessions, nonces, throttles, refusals (hub/phone/models.py)

Revision ID: 901fed685f8d
Revises: 22299eb37ce3
Create Date: 2026-11-23 02:59:06.813801
"""

from alembic import op
import sqlalchemy as sa


revision = '901fed685f8d'
down_revision = '22299eb37ce3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('phone_nonces',
    sa.Column('nonce_hash', sa.String(length=64), nullable=False),
    sa.Column('employee_id', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('nonce_hash', name=op.f('pk_phone_nonces'))
    )
    with op.batch_alter_table('phone_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phone_nonces_employee_id'), ['employee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_phone_nonces_expires_at'), ['expires_at'], unique=False)

    op.create_table('phone_refusals',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('employee_id', sa.String(length=64), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('site_id', sa.String(length=64), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phone_refusals'))
    )
    with op.batch_alter_table('phone_refusals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phone_refusals_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_phone_refusals_employee_id'), ['employee_id'], unique=False)

    op.create_table('phone_throttles',
    sa.Column('scope', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_phone_throttles'))
    )
    op.create_table('phone_activations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('public_id', sa.String(length=64), nullable=False),
    sa.Column('employee_id', sa.String(length=64), nullable=False),
    sa.Column('code_hash', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('setup_hash', sa.String(length=64), nullable=True),
    sa.Column('setup_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.employee_id'], name=op.f('fk_phone_activations_employee_id_employees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phone_activations')),
    sa.UniqueConstraint('public_id', name=op.f('uq_phone_activations_public_id'))
    )
    with op.batch_alter_table('phone_activations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phone_activations_employee_id'), ['employee_id'], unique=False)

    op.create_table('phone_bindings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('employee_id', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.employee_id'], name=op.f('fk_phone_bindings_employee_id_employees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phone_bindings')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_phone_bindings_token_hash'))
    )
    with op.batch_alter_table('phone_bindings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phone_bindings_employee_id'), ['employee_id'], unique=False)

    op.create_table('phone_credentials',
    sa.Column('employee_id', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.employee_id'], name=op.f('fk_phone_credentials_employee_id_employees')),
    sa.PrimaryKeyConstraint('employee_id', name=op.f('pk_phone_credentials'))
    )
    op.create_table('phone_sessions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('employee_id', sa.String(length=64), nullable=False),
    sa.Column('binding_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['binding_id'], ['phone_bindings.id'], name=op.f('fk_phone_sessions_binding_id_phone_bindings')),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.employee_id'], name=op.f('fk_phone_sessions_employee_id_employees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phone_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_phone_sessions_token_hash'))
    )
    with op.batch_alter_table('phone_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phone_sessions_binding_id'), ['binding_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_phone_sessions_employee_id'), ['employee_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('phone_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phone_sessions_employee_id'))
        batch_op.drop_index(batch_op.f('ix_phone_sessions_binding_id'))

    op.drop_table('phone_sessions')
    op.drop_table('phone_credentials')
    with op.batch_alter_table('phone_bindings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phone_bindings_employee_id'))

    op.drop_table('phone_bindings')
    with op.batch_alter_table('phone_activations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phone_activations_employee_id'))

    op.drop_table('phone_activations')
    op.drop_table('phone_throttles')
    with op.batch_alter_table('phone_refusals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phone_refusals_employee_id'))
        batch_op.drop_index(batch_op.f('ix_phone_refusals_at'))

    op.drop_table('phone_refusals')
    with op.batch_alter_table('phone_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phone_nonces_expires_at'))
        batch_op.drop_index(batch_op.f('ix_phone_nonces_employee_id'))

    op.drop_table('phone_nonces')
