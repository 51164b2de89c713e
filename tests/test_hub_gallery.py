"""Gallery versions and deltas (hub.enrolment.gallery, enrolment, transfers, leavers) on a real database.

The templates here are arbitrary 512-byte values: these tests are about
version bookkeeping, not recognition (real photos are used in test_hub_enrol).
"""

from datetime import datetime, timezone

import numpy as np
import pytest

from hub.db import make_session_factory
from hub.devices import registry
from hub.enrolment import gallery
from hub.enrolment.consent import ConsentTaken
from hub.enrolment.enrol import PersonPhotos, apply_enrolment
from hub.masterdata import employees
from hub.masterdata.fields import EmployeeIn, EmployeePatch
from protocol import messages, signing
from tests.hub_db import any_engine  # noqa: F401  (fixture)

PAPER = ConsentTaken("paper", "test")  # consent forms signed on paper (hub/enrolment/consent.py)


def person(employee_id: str, *sources: str, seed: int = 0) -> PersonPhotos:
    rng = np.random.default_rng(seed)
    templates = [(s, rng.standard_normal(128).astype("<f4").tobytes()) for s in sources]
    return PersonPhotos(employee_id, employee_id.replace("_", " "), templates=templates)


@pytest.fixture
def session(any_engine):
    with make_session_factory(any_engine)() as s:
        registry.add_site(s, "site-a", "A")
        registry.add_site(s, "site-b", "B")
        s.commit()
        yield s


def names(delta: messages.GalleryDelta) -> dict[str, int]:
    return {p.employee_id: len(p.encodings) for p in delta.upserts}


def test_empty_site_gets_an_empty_full_gallery(session):
    delta = gallery.build_delta(session, "site-a", 0)
    assert (delta.full, delta.from_version, delta.to_version, delta.upserts) == (True, 0, 0, [])
    assert gallery.build_delta(session, "no-such-site", 0) is None


def leave(session, employee_id: str) -> dict[str, int]:
    return employees.update_employee(session, employee_id, EmployeePatch(active=False))[1]


def test_versions_move_once_per_change_and_deltas_carry_only_changes(session):
    report = apply_enrolment(session, "site-a", [person("Ann_Lee", "1.jpg", "2.jpg"), person("Bo", "1.jpg")],
                             consent_taken=PAPER)
    session.commit()
    assert (report.gallery_version, report.changed) == (1, ["Ann_Lee", "Bo"])

    full = gallery.build_delta(session, "site-a", 0)
    assert (full.full, full.to_version, names(full)) == (True, 1, {"Ann_Lee": 2, "Bo": 1})
    assert [p.name for p in full.upserts] == ["Ann Lee", "Bo"]
    first = messages.decode_template(full.upserts[0].encodings[0])
    assert first.tobytes() == person("Ann_Lee", "1.jpg", "2.jpg").templates[0][1]

    again = apply_enrolment(session, "site-a", [person("Ann_Lee", "1.jpg", "2.jpg"), person("Bo", "1.jpg")],
                            consent_taken=PAPER)
    session.commit()
    assert (again.gallery_version, again.changed) == (1, [])
    same = gallery.build_delta(session, "site-a", 1)
    assert (same.full, same.from_version, same.to_version, same.upserts, same.removed) == (False, 1, 1, [], [])

    apply_enrolment(session, "site-a", [person("Bo", "1.jpg", "2.jpg")], consent_taken=PAPER)
    assert leave(session, "Ann_Lee") == {"site-a": 3}
    session.commit()
    delta = gallery.build_delta(session, "site-a", 1)
    assert (delta.full, delta.from_version, delta.to_version) == (False, 1, 3)
    assert names(delta) == {"Bo": 2} and delta.removed == ["Ann_Lee"]
    assert names(gallery.build_delta(session, "site-a", 2)) == {} and gallery.build_delta(
        session, "site-a", 2).removed == ["Ann_Lee"]
    assert names(gallery.build_delta(session, "site-a", 0)) == {"Bo": 2}

    unknown_version = gallery.build_delta(session, "site-a", 99)  # e.g. hub restored from an old backup
    assert (unknown_version.full, names(unknown_version), unknown_version.removed) == (True, {"Bo": 2}, [])


def test_a_leaver_who_returns_comes_back_into_the_gallery(session):
    apply_enrolment(session, "site-a", [person("Bo", "1.jpg")], consent_taken=PAPER)
    leave(session, "Bo")
    _, versions = employees.update_employee(session, "Bo", EmployeePatch(active=True))
    session.commit()
    assert versions == {"site-a": 3}
    assert names(gallery.build_delta(session, "site-a", 2)) == {"Bo": 1}


def test_enrolment_never_moves_a_known_employee_and_new_photos_reach_every_site(session):
    apply_enrolment(session, "site-a", [person("Cy", "1.jpg")], consent_taken=PAPER)
    employees.update_employee(session, "Cy", EmployeePatch(allowed_site_ids=["site-b"]))
    session.commit()
    assert (names(gallery.build_delta(session, "site-a", 0)), names(gallery.build_delta(session, "site-b", 0))) == (
        {"Cy": 1}, {"Cy": 1})
    b_before = gallery.build_delta(session, "site-b", 0).to_version
    report = apply_enrolment(session, "site-b", [person("Cy", "1.jpg", "2.jpg")], consent_taken=PAPER)  # site-b: only for new people
    session.commit()
    assert employees.get_employee(session, "Cy").home_site_id == "site-a"
    assert set(report.versions) == {"site-a", "site-b"}
    delta_b = gallery.build_delta(session, "site-b", b_before)
    assert delta_b.to_version == b_before + 1 and names(delta_b) == {"Cy": 2}


def test_transfer_moves_the_person_between_galleries_and_bumps_both_sites(session):
    apply_enrolment(session, "site-a", [person("Di", "1.jpg"), person("Ed", "1.jpg")], consent_taken=PAPER)
    session.commit()
    employee, versions = employees.update_employee(session, "Ed", EmployeePatch(home_site_id="site-b"))
    session.commit()
    assert versions == {"site-a": 2, "site-b": 1}
    assert gallery.build_delta(session, "site-a", 1).removed == ["Ed"]
    assert names(gallery.build_delta(session, "site-b", 0)) == {"Ed": 1}
    # a change that touches no gallery bumps nothing
    assert employees.update_employee(session, "Ed", EmployeePatch(category="contract"))[1] == {}


def test_who_may_punch_where(session):
    apply_enrolment(session, "site-a", [person("Di", "1.jpg"), person("Ed", "1.jpg")], consent_taken=PAPER)
    employees.update_employee(session, "Ed", EmployeePatch(home_site_id="site-b", allowed_site_ids=["site-a"]))
    registry.add_site(session, "site-c", "C")
    employees.create_employee(session, EmployeeIn(employee_id="Fay", name="Fay", home_site_id="site-c"))
    session.commit()
    assert gallery.allowed_sites(session, ["Di", "Ed", "Fay", "Nobody"]) == {
        "Di": {"site-a"},
        "Ed": {"site-b", "site-a"},  # home and allowed site
        "Fay": {"site-c"},           # not enrolled yet: allowed, in no gallery
    }
    leave(session, "Ed")
    assert gallery.allowed_sites(session, ["Ed"]) == {}


def test_applied_version_is_recorded_only_for_an_active_device_of_that_site(session):
    key = signing.public_key_b64(signing.generate_private_key())
    registry.register_device(session, "kiosk-01", "site-a", key)
    now = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)
    assert not gallery.record_applied(session, "kiosk-01", "site-b", 3, now)
    assert not gallery.record_applied(session, "kiosk-99", "site-a", 3, now)
    assert gallery.record_applied(session, "kiosk-01", "site-a", 3, now)
    session.commit()
    device = registry.list_devices(session)[0]
    assert (device.gallery_version, device.gallery_confirmed_at) == (3, now)
    registry.retire_device(session, "kiosk-01")
    assert not gallery.record_applied(session, "kiosk-01", "site-a", 4, now)
