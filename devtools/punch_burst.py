"""A kiosk without a camera: makes signed punches into the real outbox and drains them over the real link.

For fault tests and benchmarks that need many punches quickly: face
recognition makes about one punch a second, a delivery test wants thousands.
Everything after the decision is the kiosk's own code (``Outbox``,
``MqttLink``, ``make_signed_punch``).

    python -m devtools.punch_burst --config kiosk.yaml --count 500 --rate 200 --employees E1,E2
    python -m devtools.punch_burst --config kiosk.yaml --count 0 --drain-timeout-s 60   # only drain

Prints one JSON line at the end: created, last_seq, depth, acked, seconds.
"""

import argparse
import json
import logging
import signal
import sys
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from kiosk import __version__
from kiosk.app import OUTBOX_FILE
from kiosk.config import KioskConfig
from kiosk.decision import PunchDecision
from kiosk.liveness import LivenessState
from kiosk.link import MqttLink
from kiosk.outbox import Outbox
from kiosk.punches import make_signed_punch
from protocol import signing
from protocol.logs import setup_logging
from protocol.settings import load_config

LIVE = LivenessState(True, 0.9, None, "blink")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--count", type=int, default=0, help="punches to make")
    parser.add_argument("--rate", type=float, default=0.0, help="punches per second (0: as fast as possible)")
    parser.add_argument("--employees", default="", help="comma-separated employee ids, used in turn")
    parser.add_argument("--drain-timeout-s", type=float, default=120.0)
    parser.add_argument("--offline", action="store_true", help="do not connect: only fill the outbox")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    setup_logging(args.log_level)

    config = load_config(args.config, KioskConfig)
    key = signing.load_private_key(config.signing_key_file)
    zone = ZoneInfo(config.timezone)
    outbox = Outbox(config.state_dir / OUTBOX_FILE)
    link = None if args.offline else MqttLink(config, outbox, sw_version=__version__, gallery_version=lambda: 1)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if link is not None:
        link.start()
    employees = [e for e in args.employees.split(",") if e]
    if args.count and not employees:
        parser.error("--employees is needed with --count")

    start = time.monotonic()
    created = 0
    for i in range(args.count):
        if stop.is_set():
            break
        decision = PunchDecision(employees[i % len(employees)], 0.35, 0.2, LIVE)
        outbox.add(lambda seq, d=decision: make_signed_punch(
            key, device_id=config.device_id, site_id=config.site_id, decision=d, ts=datetime.now(zone),
            gallery_version=1, seq=seq))
        created += 1
        if link is not None:
            link.wake()
        if args.rate > 0:
            delay = start + (i + 1) / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    deadline = time.monotonic() + args.drain_timeout_s
    while link is not None and outbox.depth() and time.monotonic() < deadline and not stop.is_set():
        time.sleep(0.05)
    result = {
        "created": created,
        "last_seq": outbox.last_seq(),
        "depth": outbox.depth(),
        "acked": link.stats["punches_acked"] if link else 0,
        "rejected": len(outbox.rejected()),
        "seconds": round(time.monotonic() - start, 3),
    }
    if link is not None:
        link.stop()
    outbox.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
