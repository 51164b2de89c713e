"""``hub deliver defaulters|muster``: the scheduled reports, started by systemd timers (or by hand)."""

import argparse
import logging
from collections.abc import Callable
from datetime import date

from hub.cli.common import load_config

log = logging.getLogger(__name__)


def _setup(args: argparse.Namespace):  # noqa: ANN202  (config, engine, sessions, context, mailer, now)
    from hub.app import open_engine
    from hub.db import make_session_factory, utcnow
    from hub.delivery.mailer import SmtpMailer
    from hub.reports.queries import ReportContext

    config = load_config(args)
    engine = open_engine(config)
    now = utcnow()
    ctx = ReportContext(config.attendance.calendar(), config.attendance.flag_policy(), now,
                        codes=config.attendance.code_book())
    return config, engine, make_session_factory(engine), ctx, SmtpMailer(config.delivery.smtp), now


def cmd_defaulters(args: argparse.Namespace) -> int:
    from hub.delivery.jobs import send_defaulters, today
    from hub.phone.sms import OutboxFileSender

    config, engine, sessions, ctx, mailer, now = _setup(args)
    try:
        day = args.date or today(config.delivery, now)
        sms = OutboxFileSender(config.phone.sms_outbox) if config.delivery.defaulter_sms else None
        sent = send_defaulters(sessions, config.delivery, ctx, day=day, mailer=mailer, sms=sms)
    finally:
        engine.dispose()
    print(f"defaulter lists of {day}: {sent} messages sent")
    return 0


def cmd_muster(args: argparse.Namespace) -> int:
    from hub.delivery.jobs import last_month, send_musters
    from hub.reports.queries import month_range

    config, engine, sessions, ctx, mailer, now = _setup(args)
    try:
        month = args.month or last_month(config.delivery, now)
        month_range(month)  # refuse a bad month before anything is sent
        sent = send_musters(sessions, config.delivery, ctx, month=month, mailer=mailer, exports=config.exports)
    finally:
        engine.dispose()
    print(f"muster rolls of {month}: {sent} mails sent")
    return 0


def register(command: Callable, with_config: Callable) -> None:
    group = command("deliver", None, "send the scheduled reports now").add_subparsers(
        dest="deliver_command", required=True)
    p = with_config(command("defaulters", cmd_defaulters, "mail (and SMS) each unit in delivery.defaulter_emails / "
                            "defaulter_sms who had not punched in by the cut-off", group))
    p.add_argument("--date", type=date.fromisoformat, help="YYYY-MM-DD (default: today in delivery.time_zone)")
    p = with_config(command("muster", cmd_muster, "mail each DDO in delivery.muster_emails its muster roll", group))
    p.add_argument("--month", help="YYYY-MM (default: last month in delivery.time_zone)")
