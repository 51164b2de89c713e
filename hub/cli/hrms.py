"""``hub hrms-push``: the pusher as a long-running worker (systemd) or one drain (``--once``, cron, tests);
``hub hrms-leave``: pull a month's approved leave from the Frappe targets and store it."""

import argparse
import logging
import signal
import threading
from collections.abc import Callable

from hub.cli.common import load_config

log = logging.getLogger(__name__)


def cmd_hrms_push(args: argparse.Namespace) -> int:
    from hub.app import open_engine
    from hub.db import make_session_factory
    from hub.hrms import queue
    from hub.hrms.pusher import Pusher

    config = load_config(args)
    if not config.hrms.targets:
        print("hub: no hrms.targets configured: nothing to push")
        return 0
    engine = open_engine(config)
    sessions = make_session_factory(engine)
    pusher = Pusher(sessions, config.hrms)
    try:
        if args.once:
            sent = pusher.run_once()
            with sessions() as session:
                for target in config.hrms.targets:
                    c = queue.counts(session, target.name)
                    print(f"{target.name}: sent {c['sent']}, pending {c['pending']}, refused {c['refused']}")
            print(f"sent {sent} punches this run")
            return 0
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        pusher.run(stop)
        return 0
    finally:
        pusher.close()
        engine.dispose()


def cmd_hrms_leave(args: argparse.Namespace) -> int:
    from hub.app import open_engine
    from hub.db import make_session_factory, utcnow
    from hub.delivery.jobs import today
    from hub.hrms.config import FrappeTarget
    from hub.hrms.leave import approved_leave, store_approved_leave
    from hub.reports.queries import month_range

    config = load_config(args)
    first, last = month_range(args.month or today(config.delivery, utcnow()).strftime("%Y-%m"))
    targets = [t for t in config.hrms.targets if isinstance(t, FrappeTarget)]
    if not targets:
        print("hub: no Frappe target in hrms.targets: no leave to pull")
        return 0
    engine = open_engine(config)
    try:
        sessions = make_session_factory(engine)
        for target in targets:
            leaves = approved_leave(target, first, last)
            with sessions.begin() as session:
                result = store_approved_leave(session, leaves, first=first, last=last,
                                              leave_types=config.attendance.leave_type_codes(),
                                              book=config.attendance.code_book())
            print(f"{target.name}: {len(leaves)} approved applications, stored {result.stored}, "
                  f"deleted {result.deleted} (cancelled), skipped {len(result.skipped)}")
            for reason in result.skipped:
                print(f"  skipped {reason}")
        return 0
    finally:
        engine.dispose()


def register(command: Callable, with_config: Callable) -> None:
    p = with_config(command("hrms-push", cmd_hrms_push,
                            "push stored punches to the hrms.targets (Frappe HRMS, Odoo, webhook) until SIGTERM"))
    p.add_argument("--once", action="store_true", help="queue and send what is due now, print the counts, exit")
    p = with_config(command("hrms-leave", cmd_hrms_leave,
                            "pull a month's approved leave from the Frappe HRMS targets into the muster roll"))
    p.add_argument("--month", help="YYYY-MM (default: this month in delivery.time_zone)")
