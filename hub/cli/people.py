"""``hub admin|user|unit|ddo|site|employee ...``: accounts and master data from the command line.

Every change is written to the audit log as ``cli:<os user>``.
"""

import argparse
from collections.abc import Callable

from hub.accounts import audit, users
from hub.cli.common import actor, in_session, split_ids
from hub.masterdata import employees, sites, units
from hub.masterdata.fields import (
    DdoIn,
    EmployeeIn,
    EmployeePatch,
    SiteIn,
    SitePatch,
    UnitIn,
)

Command = Callable[..., argparse.ArgumentParser]


def print_password(username: str, password: str) -> None:
    print(f"user {username}: one-time password (shown once; it must be changed at first login):")
    print(password)


def cmd_admin_create(args: argparse.Namespace) -> int:
    def work(session):
        user, password = users.create_user(session, args.username, "admin")
        audit.record(session, actor(), "user.create", f"user:{user.username}", None, audit.snapshot(user))
        return user, password

    user, password = in_session(args, work)
    print_password(user.username, password)
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    def work(session):
        user, password = users.create_user(session, args.username, args.role, unit_ids=split_ids(args.units),
                                           employee_id=args.employee)
        audit.record(session, actor(), "user.create", f"user:{user.username}", None,
                     audit.snapshot(user, unit_ids=split_ids(args.units)))
        return user, password

    user, password = in_session(args, work)
    print_password(user.username, password)
    return 0


def cmd_reset_password(args: argparse.Namespace) -> int:
    def work(session):
        user, password = users.reset_password(session, args.username)
        audit.record(session, actor(), "user.reset_password", f"user:{user.username}")
        return user, password

    user, password = in_session(args, work)
    print_password(user.username, password)
    return 0


def _add(args: argparse.Namespace, kind: str, make: Callable, target: Callable) -> object:
    """Create one row with ``make(session)`` and log it as ``<kind>.create``."""
    def work(session):
        row = make(session)
        audit.record(session, actor(), f"{kind}.create", target(row), None, audit.snapshot(row))
        return row

    return in_session(args, work)


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


SITE_OPTIONS = ("unit_id", "lat", "lon", "radius_m", "timezone", "shift_start", "cutoff", "min_gap_min",
                "half_day_hours", "phone_policy")


def cmd_unit_add(args: argparse.Namespace) -> int:
    data = UnitIn(unit_id=args.unit_id, name=args.name, kind=args.kind, parent_id=args.parent)
    row = _add(args, "org_unit", lambda s: units.create_unit(s, data), lambda r: f"org_unit:{r.unit_id}")
    print(f"org unit {row.unit_id} ({row.name}, {row.kind}) added")
    return 0


def cmd_ddo_add(args: argparse.Namespace) -> int:
    data = DdoIn(ddo_id=args.ddo_id, name=args.name, unit_id=args.unit)
    row = _add(args, "ddo", lambda s: units.create_ddo(s, data), lambda r: f"ddo:{r.ddo_id}")
    print(f"DDO {row.ddo_id} ({row.name}) added")
    return 0


def cmd_site_add(args: argparse.Namespace) -> int:
    """Without rule options this is the old idempotent ``site add``: the same site again is a no-op."""
    from hub.devices.registry import add_site

    options = _given(args, SITE_OPTIONS)
    if not options:
        def work(session):
            site, created = add_site(session, args.site_id, args.name)
            if created:
                audit.record(session, actor(), "site.create", f"site:{site.site_id}", None, audit.snapshot(site))
            return site, created

        site, created = in_session(args, work)
        print(f"site {site.site_id} ({site.name}) {'added' if created else 'already present'}")
        return 0
    data = SiteIn(site_id=args.site_id, name=args.name, **options)
    row = _add(args, "site", lambda s: sites.create_site(s, data), lambda r: f"site:{r.site_id}")
    print(f"site {row.site_id} ({row.name}) added")
    return 0


def cmd_site_set(args: argparse.Namespace) -> int:
    patch = SitePatch(**_given(args, SITE_OPTIONS + ("name",)))

    def work(session):
        before = audit.snapshot(sites.get_site(session, args.site_id))
        site = sites.update_site(session, args.site_id, patch)
        audit.record(session, actor(), "site.update", f"site:{site.site_id}", before, audit.snapshot(site))
        return site

    site = in_session(args, work)
    print(f"site {site.site_id} updated")
    return 0


def cmd_employee_add(args: argparse.Namespace) -> int:
    data = EmployeeIn(employee_id=args.employee_id, name=args.name, home_site_id=args.site, category=args.category,
                      unit_id=args.unit, ddo_id=args.ddo, mobile=args.mobile, allowed_site_ids=split_ids(args.allowed))
    row = _add(args, "employee", lambda s: employees.create_employee(s, data), lambda r: f"employee:{r.employee_id}")
    print(f"employee {row.employee_id} ({row.name}) added at {row.home_site_id}")
    return 0


def _update_employee(args: argparse.Namespace, patch: EmployeePatch, what: str) -> int:
    def work(session):
        def state(e):
            return audit.snapshot(e, allowed_site_ids=employees.allowed_sites(session, e.employee_id))

        before = state(employees.get_employee(session, args.employee_id))
        employee, versions = employees.update_employee(session, args.employee_id, patch)
        audit.record(session, actor(), "employee.update", f"employee:{employee.employee_id}", before,
                     state(employee))
        return versions

    versions = in_session(args, work)
    print(f"employee {args.employee_id} {what}")
    for site_id, version in sorted(versions.items()):
        print(f"gallery version of {site_id}: {version}")
    return 0


def cmd_employee_transfer(args: argparse.Namespace) -> int:
    return _update_employee(args, EmployeePatch(home_site_id=args.site), f"transferred to {args.site}")


def cmd_employee_leave(args: argparse.Namespace) -> int:
    return _update_employee(args, EmployeePatch(active=False), "marked as a leaver")


def cmd_employee_allow(args: argparse.Namespace) -> int:
    allowed = split_ids(args.sites)
    return _update_employee(args, EmployeePatch(allowed_site_ids=allowed),
                            f"allowed at: {', '.join(allowed) or 'home site only'}")


def register(command: Command, with_config: Callable) -> None:
    """Add these commands to the ``hub`` parser."""
    group = command("admin", None, "hub administrators").add_subparsers(dest="admin_command", required=True)
    p = with_config(command("create", cmd_admin_create, "create an admin; prints a one-time password", group))
    p.add_argument("username", metavar="USERNAME")
    p = with_config(command("reset-password", cmd_reset_password, "give any user a new one-time password", group))
    p.add_argument("username", metavar="USERNAME")

    group = command("user", None, "dashboard and API users").add_subparsers(dest="user_command", required=True)
    p = with_config(command("create", cmd_user_create, "create a user; prints a one-time password", group))
    p.add_argument("username", metavar="USERNAME")
    p.add_argument("--role", required=True, choices=["admin", "unit_officer", "employee"])
    p.add_argument("--units", help="unit officer: org unit ids, comma-separated (child units included)")
    p.add_argument("--employee", help="employee: their staff number")

    group = command("unit", None, "org units").add_subparsers(dest="unit_command", required=True)
    p = with_config(command("add", cmd_unit_add, "add an org unit (department or office)", group))
    p.add_argument("unit_id", metavar="UNIT_ID")
    p.add_argument("--name", required=True)
    p.add_argument("--kind", default="office", choices=["department", "office"])
    p.add_argument("--parent", help="the unit above (an office's department)")

    group = command("ddo", None, "pay officers (DDOs)").add_subparsers(dest="ddo_command", required=True)
    p = with_config(command("add", cmd_ddo_add, "add a DDO", group))
    p.add_argument("ddo_id", metavar="DDO_ID")
    p.add_argument("--name", required=True)
    p.add_argument("--unit", help="org unit of the DDO")

    _register_sites(command, with_config)
    _register_employees(command, with_config)


def _site_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--unit", dest="unit_id")
    p.add_argument("--lat", type=float)
    p.add_argument("--lon", type=float)
    p.add_argument("--radius-m", type=float)
    p.add_argument("--timezone", help="e.g. Asia/Kolkata")
    p.add_argument("--shift-start", help="HH:MM; a punch-in after it is late")
    p.add_argument("--cutoff", help="HH:MM; no punch-in by then: missing")
    p.add_argument("--min-gap-min", type=int, help="minimum minutes between in and out")
    p.add_argument("--half-day-hours", type=float)
    p.add_argument("--phone-policy", choices=["always", "kiosk_down", "never"])


def _register_sites(command: Command, with_config: Callable) -> None:
    group = command("site", None, "duty sites").add_subparsers(dest="site_command", required=True)
    p = with_config(command("add", cmd_site_add, "add a duty site", group))
    p.add_argument("site_id", metavar="SITE_ID")
    p.add_argument("--name", required=True, help="human-readable site name")
    _site_options(p)
    p = with_config(command("set", cmd_site_set, "change a site's geofence, shift rules or phone policy", group))
    p.add_argument("site_id", metavar="SITE_ID")
    p.add_argument("--name")
    _site_options(p)


def _register_employees(command: Command, with_config: Callable) -> None:
    group = command("employee", None, "employees").add_subparsers(dest="employee_command", required=True)
    p = with_config(command("add", cmd_employee_add, "add one employee", group))
    p.add_argument("employee_id", metavar="STAFF_NUMBER")
    p.add_argument("--name", required=True)
    p.add_argument("--site", required=True, help="home site")
    p.add_argument("--category", default="permanent", choices=["permanent", "contract", "outsourced", "security"])
    p.add_argument("--unit")
    p.add_argument("--ddo")
    p.add_argument("--mobile", help="E.164, e.g. +919812345678")
    p.add_argument("--allowed", help="other sites where they may punch, comma-separated")
    p = with_config(command("transfer", cmd_employee_transfer, "move an employee to another home site", group))
    p.add_argument("employee_id", metavar="STAFF_NUMBER")
    p.add_argument("--site", required=True, help="the new home site")
    p = with_config(command("leave", cmd_employee_leave, "mark a leaver: out of every gallery", group))
    p.add_argument("employee_id", metavar="STAFF_NUMBER")
    p = with_config(command("allow", cmd_employee_allow, "set the other sites an employee may punch at", group))
    p.add_argument("employee_id", metavar="STAFF_NUMBER")
    p.add_argument("--sites", required=True, help="comma-separated site ids; empty for home only")
