"""holidays per unit, leave and duty entries, shifts and rosters (issue 14 parts 1-2)

Four new tables, no data to convert.

Revision ID: 3c9e1a7d5b20
Revises: 4e21e3482422
Create Date: 2026-12-04 02:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '3c9e1a7d5b20'
down_revision = '4e21e3482422'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('holidays',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['unit_id'], ['org_units.unit_id'], name=op.f('fk_holidays_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holidays'))
    )
    with op.batch_alter_table('holidays', schema=None) as batch_op:
        batch_op.create_index('ix_holidays_day', ['day'], unique=False)

    op.create_table('shifts',
    sa.Column('shift_id', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('start', sa.Time(), nullable=False),
    sa.Column('end', sa.Time(), nullable=False),
    sa.Column('cutoff', sa.Time(), nullable=False),
    sa.Column('min_gap_min', sa.Integer(), nullable=False),
    sa.Column('half_day_hours', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.site_id'], name=op.f('fk_shifts_site_id_sites')),
    sa.PrimaryKeyConstraint('shift_id', name=op.f('pk_shifts'))
    )
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shifts_site_id'), ['site_id'], unique=False)

    op.create_table('leave_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('employee_id', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('first', sa.Date(), nullable=False),
    sa.Column('last', sa.Date(), nullable=False),
    sa.Column('half_day', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_ref', sa.String(length=140), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.CheckConstraint('last >= first', name=op.f('ck_leave_entries_last_not_before_first')),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.employee_id'], name=op.f('fk_leave_entries_employee_id_employees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leave_entries'))
    )
    with op.batch_alter_table('leave_entries', schema=None) as batch_op:
        batch_op.create_index('ix_leave_entries_employee_first', ['employee_id', 'first'], unique=False)
        batch_op.create_index('ix_leave_entries_source_ref', ['source', 'source_ref'], unique=False)

    op.create_table('roster_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('employee_id', sa.String(length=64), nullable=True),
    sa.Column('unit_id', sa.String(length=64), nullable=True),
    sa.Column('week_start', sa.Date(), nullable=True),
    sa.Column('shift_id', sa.String(length=64), nullable=True),
    sa.Column('weekly_off', sa.String(length=20), nullable=True),
    sa.CheckConstraint('(employee_id IS NULL) <> (unit_id IS NULL)', name=op.f('ck_roster_entries_one_of_employee_unit')),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.employee_id'], name=op.f('fk_roster_entries_employee_id_employees')),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.shift_id'], name=op.f('fk_roster_entries_shift_id_shifts')),
    sa.ForeignKeyConstraint(['unit_id'], ['org_units.unit_id'], name=op.f('fk_roster_entries_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roster_entries'))
    )
    with op.batch_alter_table('roster_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roster_entries_employee_id'), ['employee_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('roster_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_roster_entries_employee_id'))

    op.drop_table('roster_entries')
    with op.batch_alter_table('leave_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_leave_entries_source_ref')
        batch_op.drop_index('ix_leave_entries_employee_first')

    op.drop_table('leave_entries')
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shifts_site_id'))

    op.drop_table('shifts')
    with op.batch_alter_table('holidays', schema=None) as batch_op:
        batch_op.drop_index('ix_holidays_day')

    op.drop_table('holidays')
