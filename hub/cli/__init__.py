"""``hub``: configure, enrol, register devices and run the hub.

Each command parses its arguments, calls one function that does the work,
and prints the result; errors are one line on stderr and a non-zero exit.
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from hub import __version__
from hub.accounts import audit
from hub.cli import deliver as cli_deliver
from hub.cli import enrol as cli_enrol
from hub.cli import hrms as cli_hrms
from hub.cli import people as cli_people
from hub.cli import release as cli_release
from hub.cli.common import actor, exposure_problem, in_session, load_config
from hub.errors import HubError
from protocol.logs import setup_logging
from protocol.settings import ConfigError, read_secret
from protocol.transport import mode_line


def cmd_check_config(args: argparse.Namespace) -> int:
    from hub.app import load
    from hub.reports.config import missing_fonts

    config = load(args.config_file)
    problems = []
    secrets = [("admin_token_file", config.admin_token_file, "admin token")]
    if config.mqtt.password_file is not None:
        secrets.append(("mqtt.password_file", config.mqtt.password_file, "MQTT password"))
    if config.metrics.token_file is not None:
        secrets.append(("metrics.token_file", config.metrics.token_file, "metrics token"))
    secrets += _report_secrets(config)
    for key, path, what in secrets:
        try:
            read_secret(path, what)
        except ConfigError as exc:
            problems += [f"{key}: {p}" for p in exc.problems]
    problems += _gallery_key_secret_problems(config)
    problems += _template_key_problems(config)
    problems += _sms_outbox_problems(config)
    problems += missing_fonts(config.exports)
    problems += [p for key, path in _private_files(config) if (p := exposure_problem(key, path))]
    problems += [p for key, path, _ in _report_secrets(config) if (p := exposure_problem(key, path))]
    if problems:
        raise ConfigError(args.config_file, problems)
    print(f"{args.config_file}: {mode_line(config.mqtt)}")
    print(f"{args.config_file}: ok")
    return 0


def _report_secrets(config) -> list[tuple[str, Path, str]]:
    """The HRMS targets' secrets and the SMTP password (hub/hrms, hub/delivery)."""
    from hub.hrms.config import secret_files

    out = secret_files(config.hrms)
    if config.delivery.smtp.password_file is not None:
        out.append(("delivery.smtp.password_file", config.delivery.smtp.password_file, "SMTP password"))
    return out


def _sms_outbox_problems(config) -> list[str]:
    """The phone activation codes go to ``phone.sms_outbox``: it must exist or be creatable, and take writes."""
    from hub.phone.sms import outbox_problem

    problem = outbox_problem(config.phone.sms_outbox)
    return [f"phone.sms_outbox: {problem}"] if problem else []


def _private_files(config) -> list[tuple[str, Path]]:
    """(config key, path) of every file only the hub's user may read: secrets, the TLS client key,
    and the SQLite database (face templates, password hashes, phone numbers)."""
    from sqlalchemy.engine import make_url

    from hub.enrolment.gallery_keys import GalleryKeySecretError, secret_path

    files = [("admin_token_file", config.admin_token_file), ("mqtt.password_file", config.mqtt.password_file),
             ("metrics.token_file", config.metrics.token_file), ("mqtt.key_file", config.mqtt.key_file),
             ("api.tls_key_file", config.api.tls_key_file)]
    try:
        files.append(("gallery_key_secret_file", secret_path(config)))
    except GalleryKeySecretError:
        pass  # reported by _gallery_key_secret_problems
    from hub.enrolment.template_cipher import default_path

    template_key, _ = default_path(config.database_url, config.template_key_file)
    files.append(("template_key_file", template_key))
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        files.append(("database_url", Path(url.database)))
    return [(key, path) for key, path in files if path is not None]


def _gallery_key_secret_problems(config) -> list[str]:
    """What is wrong with the gallery-key secret; a missing file is fine (made at first use)."""
    from hub.enrolment.gallery_keys import (
        GalleryKeySecretError,
        read_secret_file,
        secret_path,
    )

    try:
        read_secret_file(secret_path(config))
    except FileNotFoundError:
        return []
    except GalleryKeySecretError as exc:
        return [f"gallery_key_secret_file: {exc}"]
    return []


def _template_key_problems(config) -> list[str]:
    """What is wrong with the template key file; a missing file is fine (made at first use),
    a missing setting with PostgreSQL is not."""
    from hub import secret_files
    from hub.enrolment.template_cipher import WHAT, TemplateKeyError, default_path

    path, why_none = default_path(config.database_url, config.template_key_file)
    if path is None:
        return [why_none]
    try:
        secret_files.read(path, what=WHAT, error=TemplateKeyError)
    except FileNotFoundError:
        return []
    except TemplateKeyError as exc:
        return [f"template_key_file: {exc}"]
    return []


def cmd_init_db(args: argparse.Namespace) -> int:
    from hub import secret_files
    from hub.app import open_engine
    from hub.db import init_db
    from hub.enrolment.gallery_keys import load_or_create_secret, secret_path
    from hub.enrolment.template_cipher import WHAT, TemplateKeyError, default_path

    config = load_config(args)
    engine = open_engine(config, create_dirs=True)
    template_key, why_none = default_path(config.database_url, config.template_key_file)
    if template_key is None:
        raise TemplateKeyError(why_none)
    secret_files.load_or_create(template_key, what=WHAT, error=TemplateKeyError)
    init_db(engine)
    path = secret_path(config)
    load_or_create_secret(path)
    print(f"database ready; kiosks' gallery keys derive from {path}; templates are encrypted with {template_key}")
    return 0


def cmd_device_add(args: argparse.Namespace) -> int:
    from hub.db import Device
    from hub.devices.registry import register_device

    def work(session):
        before = session.get(Device, args.device_id)
        before_state = audit.snapshot(before) if before is not None else None
        device, created = register_device(session, args.device_id, args.site, args.public_key)
        if created:
            audit.record(session, actor(), "device.register", f"device:{device.device_id}", before_state,
                         audit.snapshot(device))
        return device, created

    device, created = in_session(args, work)
    print(f"device {device.device_id} at site {device.site_id} {'registered' if created else 'already registered'}")
    return 0


def cmd_device_retire(args: argparse.Namespace) -> int:
    from hub.devices.registry import retire_device

    def work(session):
        device = retire_device(session, args.device_id)
        audit.record(session, actor(), "device.retire", f"device:{device.device_id}", None, audit.snapshot(device))
        return device

    device = in_session(args, work)
    print(f"device {device.device_id} retired at {device.retired_at.isoformat()}")
    return 0


def cmd_device_list(args: argparse.Namespace) -> int:
    from hub.devices.registry import list_devices, site_versions

    def work(session):
        versions = site_versions(session)
        return [(d, versions.get(d.site_id, 0)) for d in list_devices(session, args.site)]

    for device, site_version in in_session(args, work):
        held = "none" if device.gallery_version is None else device.gallery_version
        behind = device.gallery_version is None or device.gallery_version < site_version
        state = "retired" if device.retired_at else ("BEHIND" if behind else "current")
        print(f"{device.device_id}  site {device.site_id}  gallery {held}/{site_version}  {state}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from hub.app import open_engine, run_ingest

    config = load_config(args)
    if args.workers > 1:
        from hub.ingest.pool import run_pool

        run_pool(args.config, config, count=args.workers, client_id=args.client_id, log_level=args.log_level)
        return 0
    if args.client_id:
        # one config file serves every hub-ingest@N unit; each needs its own client id
        config = config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"client_id": args.client_id})})
    run_ingest(config, open_engine(config))
    return 0


def cmd_serve(args: argparse.Namespace, *, with_ingest: bool = False) -> int:
    from hub.app import open_engine, run_api

    config = load_config(args)
    run_api(config, open_engine(config), with_ingest=with_ingest)
    return 0


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="Attendance hub: MQTT ingest, database, admin API.")
    parser.add_argument("--version", action="version", version=f"hub {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable, help_text: str, parent=sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", required=True, type=Path, help="hub YAML config file")
        return p

    p = command("check-config", cmd_check_config, "validate a config file; print each problem with its key")
    p.add_argument("config_file", type=Path, metavar="CONFIG")
    with_config(command("init-db", cmd_init_db, "create or migrate the database schema, make the gallery-key "
                        "secret and the template key (idempotent)"))

    cli_people.register(command, with_config)
    cli_enrol.register(command, with_config)
    cli_hrms.register(command, with_config)
    cli_deliver.register(command, with_config)
    cli_release.register(command, with_config)

    device = command("device", None, "manage kiosks").add_subparsers(dest="device_command", required=True)
    p = with_config(command("add", cmd_device_add, "register a kiosk's public key at a site", device))
    p.add_argument("--device-id", required=True)
    p.add_argument("--site", required=True)
    p.add_argument("--public-key", required=True, help="raw Ed25519 public key, base64 (from `kiosk keygen`)")
    p = with_config(command("retire", cmd_device_retire, "retire a kiosk: its punches are refused", device))
    p.add_argument("device_id", metavar="DEVICE_ID")
    p = with_config(command("list", cmd_device_list, "list kiosks and whether their gallery is behind", device))
    p.add_argument("--site", help="only this site's kiosks")

    p = with_config(command("ingest", cmd_ingest, "run the MQTT ingest worker until SIGTERM/SIGINT"))
    p.add_argument("--client-id", help="MQTT client id overriding mqtt.client_id (one per worker, e.g. hub-ingest-%%i)")
    p.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                   help="run N worker processes on the mqtt.shared_group shared subscription, "
                        "client ids <client id>-1..N (needs mqtt.shared_group)")
    with_config(command("serve", cmd_serve, "serve the HTTP API until SIGTERM/SIGINT"))
    with_config(command("run", lambda a: cmd_serve(a, with_ingest=True),
                        "API and ingest in one process (office and demo mode)"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{exc.path}: {problem}", file=sys.stderr)
        return 1
    except HubError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "input"
            print(f"hub: {where}: {error['msg']}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"hub: database error: {type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
              " (has `hub init-db` been run?)", file=sys.stderr)
        return 1


