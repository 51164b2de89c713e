"""staff search indexes on PostgreSQL (pg_trgm for any part of a name, pattern ops for staff-number prefixes)

The staff page searches 100,000 employees by ``lower(name) LIKE '%part%'`` and
``employee_id LIKE 'prefix%'``; without these PostgreSQL scans every row (250-341 ms,
BENCHMARKS-staff.md). SQLite gets nothing: it has no trigram indexes and scans fast enough.
``pg_trgm`` ships with PostgreSQL's contrib package and is a trusted extension (PostgreSQL 13+),
so a database owner may create it.

Revision ID: a3c9e1f07b52
Revises: a8c3e5f17d24
Create Date: 2026-12-04 02:30:00
"""

from alembic import op


revision = 'a3c9e1f07b52'
down_revision = 'a8c3e5f17d24'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX ix_employees_employee_id_pattern ON employees (employee_id varchar_pattern_ops)")
    op.execute("CREATE INDEX ix_employees_name_trgm ON employees USING gin (lower(name) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_employees_name_trgm")
    op.execute("DROP INDEX IF EXISTS ix_employees_employee_id_pattern")
    # the extension stays: other databases objects may use it, and dropping it needs more rights
