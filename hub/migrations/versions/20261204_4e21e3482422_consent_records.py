"""consent records: notice version, language, channel and who recorded each person's consent (DPDP Act 2023)

A new table; no data to convert. People enrolled before it have no record:
they keep their templates, and a new enrolment of theirs needs consent.

Revision ID: 4e21e3482422
Revises: f9c0ed729400
Create Date: 2026-12-04 02:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '4e21e3482422'
down_revision = 'f9c0ed729400'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consent_records',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('employee_id', sa.String(length=64), nullable=False),
    sa.Column('notice_version', sa.String(length=32), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_by', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.employee_id'],
                            name=op.f('fk_consent_records_employee_id_employees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_records'))
    )
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_records_employee_id'), ['employee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_records_withdrawn_at'), ['withdrawn_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_records_withdrawn_at'))
        batch_op.drop_index(batch_op.f('ix_consent_records_employee_id'))
    op.drop_table('consent_records')
