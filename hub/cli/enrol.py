"""``hub enrol``, ``hub import employees``, ``hub purge-photos``, ``hub purge``, ``hub erase``: the bulk jobs
of the attendance office, retention, and erasing one person's biometric data."""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from hub.accounts import audit
from hub.cli.common import actor, in_session, load_config
from hub.db import utcnow


def cmd_enrol(args: argparse.Namespace) -> int:
    from hub.app import build_encoder
    from hub.enrolment.consent import ConsentTaken
    from hub.enrolment.enrol import enrol_folder
    from hub.enrolment.photos import store_for

    config = load_config(args)
    store = store_for(config)  # a missing photo_dir stops us before the slow part
    encoder = build_encoder()
    taken = ConsentTaken("paper", actor().username, args.consent_language) if args.consent_given else None

    def work(session):
        report = enrol_folder(session, encoder, args.folder, args.site, name_from_folder=not args.keep_names,
                              limits=config.enrolment, store=store, consent_taken=taken)
        audit.record(session, actor(), "enrol.folder", f"folder:{Path(args.folder).name}", None,
                     {"changed": report.changed, "gallery_versions": report.versions})
        return report

    print_enrol_report(in_session(args, work))
    return 0


def print_enrol_report(report) -> None:
    for person in report.people:
        if person.problem:
            print(f"{person.employee_id}: refused: {person.problem}")
            continue
        print(f"{person.employee_id} ({person.name}): {len(person.accepted)} accepted, {len(person.refused)} refused")
        for photo in person.accepted:
            if photo.note:
                print(f"  accepted {photo.file}: {photo.note}")
        for photo in person.refused:
            print(f"  refused {photo.file}: {photo.note}")
    print(f"employees enrolled: {len(report.enrolled)} of {len(report.people)}")
    print(f"photos accepted: {report.photos_accepted}")
    print(f"photos refused: {report.photos_refused}")
    for site_id, version in sorted(report.versions.items()):
        print(f"gallery version of {site_id}: {version}")
    if report.site_id is not None and report.site_id not in report.versions:
        print(f"gallery version of {report.site_id}: {report.gallery_version} (unchanged)")
    print(f"employees changed: {len(report.changed)}")


def progress_printer(stream=None) -> Callable[[str, int, int], None]:
    """Progress on stderr: one updating line on a terminal, a line per step in a log."""
    stream = stream or sys.stderr
    tty = stream.isatty()

    def show(stage: str, done: int, total: int) -> None:
        text = f"{stage}: {done}/{total} rows ({100 * done // max(total, 1)}%)"
        if tty:
            stream.write("\r" + text + ("\n" if done == total else ""))
        else:
            stream.write(text + "\n")
        stream.flush()

    return show


def cmd_import_employees(args: argparse.Namespace) -> int:
    """Validation report always; with --accept the valid rows are written in one transaction."""
    from hub.masterdata import importer

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"hub: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    progress = progress_printer()

    def work(session):
        if not args.accept:
            return importer.validate(session, data, progress), None
        result = importer.write(session, data, actor(), progress)
        audit.record(session, actor(), "import.accept", f"import:{Path(args.file).name}", None,
                     {"created": result.created, "updated": result.updated,
                      "refused": len(result.report.problems)})
        return result.report, result

    report, result = in_session(args, work)
    print_import_report(report)
    if report.file_problems:
        return 1
    if result is None:
        print("nothing written; run again with --accept to import the valid rows")
    else:
        print(f"imported: {result.created} new, {result.updated} updated")
    return 0


def print_import_report(report) -> None:
    for problem in report.file_problems:
        print(f"file: {problem}")
    for problem in report.problems:
        print(f"line {problem.line} ({problem.staff_number or 'no staff number'}): {'; '.join(problem.reasons)}")
    print(f"rows: {report.rows_total}, valid: {len(report.valid)} ({report.new} new, {report.updated} changed, "
          f"{report.unchanged} unchanged), refused: {len(report.problems)}")


def cmd_purge_photos(args: argparse.Namespace) -> int:
    from hub.enrolment.photos import purge, store_for

    config = load_config(args)
    days = config.enrolment.photo_retention_days

    def work(session):
        store = store_for(config)
        count = purge(session, store, retention_days=days, now=utcnow())
        if count:
            audit.record(session, actor(), "photos.purge", f"photos:{store.root}", None, {"deleted": count})
        return count

    count = in_session(args, work)
    print(f"photos deleted: {count} (kept for {days} days)")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from hub.enrolment.photos import store_for
    from hub.retention.purge import purge

    config = load_config(args)
    store = store_for(config)
    kinds = in_session(args, lambda session: purge(session, config, now=utcnow(), actor=actor(), store=store))
    for kind in kinds:
        print(f"{kind.name}: {kind.deleted} deleted (kept {kind.days:g} days)")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    from hub.enrolment.erasure import erase_employee
    from hub.enrolment.photos import store_for

    config = load_config(args)
    store = store_for(config)
    report = in_session(args, lambda session: erase_employee(session, store, args.employee_id, actor=actor(),
                                                             reason=args.reason))
    print(f"employee {report.employee_id}: templates deleted: {report.templates_deleted}, "
          f"photos deleted: {report.photos_deleted}")
    for site_id, version in sorted(report.gallery_versions.items()):
        print(f"gallery version of {site_id}: {version} (its kiosks drop them at the next delta)")
    if not report.gallery_versions:
        print("no gallery held them")
    print("attendance records are kept")
    return 0


def register(command: Callable, with_config: Callable) -> None:
    p = with_config(command("enrol", cmd_enrol, "enrol employees from FOLDER/<staff number>/*.jpg"))
    p.add_argument("--site", help="home site for staff numbers not yet in the master data (created from the folder)")
    p.add_argument("--keep-names", action="store_true", help="do not take names from folder names")
    p.add_argument("--consent-given", action="store_true",
                   help="every person in FOLDER was shown the notice and signed the consent form: record that "
                        "(channel 'paper', by you); without it, people with no consent on record are refused")
    p.add_argument("--consent-language", choices=["en", "hi"], default="en",
                   help="the language of the notice they signed (with --consent-given)")
    p.add_argument("folder", type=Path, metavar="FOLDER")

    group = command("import", None, "bulk imports").add_subparsers(dest="import_command", required=True)
    p = with_config(command("employees", cmd_import_employees,
                            "validate an employee CSV (report of every bad row); --accept writes the valid rows",
                            group))
    p.add_argument("file", type=Path, metavar="FILE.csv")
    p.add_argument("--accept", action="store_true", help="write the valid rows (one transaction)")

    with_config(command("purge-photos", cmd_purge_photos,
                        "delete kept enrolment photos older than enrolment.photo_retention_days"))
    with_config(command("purge", cmd_purge,
                        "delete every kind of record past its retention period (retention.*, enrolment photos, "
                        "health samples) and print how many of each"))

    p = with_config(command("erase", cmd_erase,
                            "erase an employee's enrolment photos and face templates at the hub and on every "
                            "kiosk (attendance records stay; idempotent)"))
    p.add_argument("employee_id", metavar="EMPLOYEE")
    p.add_argument("--reason", required=True, help="why (e.g. the erasure request's reference); audit-logged")
