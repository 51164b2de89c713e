"""The staff search on PostgreSQL is served by indexes (migration a3c9e1f07b52), not a scan of every row.

The timing lives in benchmarks/staff_list.py; this checks the plan, which is what makes it fast at
100,000 employees: with sequential scans switched off, a name part must come from the trigram index
and a staff-number prefix from the pattern-ops index, or the plan falls back to a (disabled) scan.
"""

import pytest
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from hub.db import Employee, OrgUnit, Site, init_db, make_engine
from hub.masterdata.employees import count_employees, list_employees
from tests.hub_db import postgres_database


@pytest.fixture
def pg_engine():
    databases = postgres_database()
    engine = make_engine(next(databases))
    init_db(engine)
    with engine.begin() as conn:
        conn.execute(insert(OrgUnit), [{"unit_id": "U1", "name": "Office", "kind": "office", "parent_id": None}])
        conn.execute(insert(Site), [{"site_id": "S1", "name": "Site", "unit_id": "U1"}])
        conn.execute(insert(Employee), [{"employee_id": f"E{i:05d}", "name": f"Asha Kumar {i}" if i % 7 else
                                         f"Zorawar Bedi {i}", "home_site_id": "S1", "unit_id": "U1",
                                         "category": "permanent", "active": True} for i in range(1, 2001)])
        conn.execute(text("ANALYZE employees"))
    try:
        yield engine
    finally:
        engine.dispose()
        databases.close()


def plan(engine, where: str) -> str:
    with engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        return "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN SELECT count(*) FROM employees WHERE {where}")))


@pytest.mark.postgres
def test_a_name_part_and_a_staff_number_prefix_use_their_indexes(pg_engine):
    assert "ix_employees_name_trgm" in plan(pg_engine, "lower(name) LIKE '%zorawar%'")
    assert "ix_employees_employee_id_pattern" in plan(pg_engine, "employee_id LIKE 'E012%'")


@pytest.mark.postgres
def test_the_search_finds_the_same_people_through_the_indexes(pg_engine):
    with Session(pg_engine) as session:
        assert count_employees(session, search="zorawar") == 2000 // 7
        assert [e.employee_id for e in list_employees(session, search="E0012", limit=5)] == [
            f"E0012{d}" for d in range(5)]
        assert count_employees(session, search="50%") == 0  # LIKE wildcards are searched for literally
