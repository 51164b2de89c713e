"""The kiosk on a clock a test steps: a real ``KioskApp`` against a real broker and the hub's ingest worker.

Used by tests/test_kiosk_clock_steps.py. ``StepClock`` steps the kiosk's wall
clock while the monotonic clock runs on, as NTP correcting a Pi without an
RTC would, and keeps the true time beside it (``true_wall``). ``TrueTimeHub``
runs the real ``IngestWorker`` in this process on that true time, so its
receive times and the ``hub_ts`` of its acks agree with the test's world
however far the test moves the clocks; ``stored_punches`` returns what it
stored (device time, flags, receive time) and ``device_clock`` what it made
of the kiosk's health.
"""

import json
import secrets
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from biometrics.encoder import FaceEncoder, load_image_rgb
from hardware.camera import Frame
from hardware.replay import ReplayCamera
from hub.config import HubConfig
from hub.db import DeviceHealth, init_db, make_engine, make_session_factory
from hub.devices import health as hub_health
from hub.devices.registry import add_site, register_device
from hub.enrolment.consent import ConsentTaken
from hub.enrolment.enrol import enrol_folder
from hub.ingest.worker import IngestWorker
from kiosk.app import KioskApp
from kiosk.clock import ClockConfig, Clocks
from kiosk.decision import Outcome
from kiosk.timesync import FakeTimeSync
from protocol import messages, signing, topics
from tests.faultkit import SITE, wait_until
from tests.punchkit import KioskLink
from tests.test_kiosk_app import PEOPLE, kiosk_config, seed_gallery

IST = ZoneInfo("Asia/Kolkata")


class StepClock:
    """A wall clock the test steps, as NTP or a person would, while the monotonic clock runs on.

    ``true_wall()`` is the time the world agrees on (the hub's, NTP's): it
    starts at ``wall``, runs with the monotonic clock, and no ``step()`` or
    ``set_wall()`` moves it; ``correct()`` sets the kiosk's wall clock to it.
    """

    def __init__(self, wall: datetime, mono_s: float = 1000.0, boot_id: str = "boot-1") -> None:
        self.mono_s = mono_s
        self.boot_id = boot_id
        self._offset = wall.timestamp() - mono_s
        self._true_offset = self._offset

    def wall(self) -> float:
        return self.mono_s + self._offset

    def true_wall(self) -> float:
        return self.mono_s + self._true_offset

    def true_now(self) -> datetime:
        """``true_wall()`` as the hub reads its clock."""
        return datetime.fromtimestamp(self.true_wall(), timezone.utc)

    def error_s(self) -> float:
        """How far the kiosk's wall clock is from the true time (> 0: ahead)."""
        return self._offset - self._true_offset

    def correct(self) -> None:
        """NTP sets the wall clock right."""
        self._offset = self._true_offset

    def monotonic(self) -> float:
        return self.mono_s

    def advance(self, seconds: float) -> None:
        self.mono_s += seconds

    def step(self, seconds: float) -> None:
        self._offset += seconds

    def set_wall(self, when: datetime) -> None:
        self._offset = when.timestamp() - self.mono_s

    def reboot(self, boot_id: str) -> None:
        """A new boot: the monotonic clock starts again near zero, the wall clock goes on."""
        self._offset += self.mono_s - 5.0
        self._true_offset += self.mono_s - 5.0
        self.mono_s, self.boot_id = 5.0, boot_id

    def clocks(self) -> Clocks:
        return Clocks(wall=self.wall, monotonic=self.monotonic, boot_id=self.boot_id)

    def hhmm(self) -> str:
        return datetime.fromtimestamp(self.wall(), IST).strftime("%H:%M")


class TrueTimeHub:
    """The hub's ``IngestWorker`` in this process, on the test's true time, over SQLite.

    ``PEOPLE`` are enrolled at ``SITE`` from all their photos but the last
    (the kiosk is shown the last one). Acks carry the true time as ``hub_ts``
    and every message is received at it, so skew is judged as a hub whose
    clock is right would judge it.
    """

    def __init__(self, workdir: Path, broker_port: int, clock: StepClock) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "admin.token").write_text(secrets.token_urlsafe(32))
        self.db_path = workdir / "hub.sqlite"
        self.engine = make_engine(f"sqlite:///{self.db_path}")
        init_db(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.config = HubConfig.model_validate({
            "database_url": f"sqlite:///{self.db_path}", "admin_token_file": str(workdir / "admin.token"),
            "mqtt": {"host": "127.0.0.1", "port": broker_port, "client_id": f"hub-clock-{secrets.token_hex(4)}"},
            "ingest": {"retry_initial_s": 0.05, "retry_max_s": 0.2},
        })
        self.worker = IngestWorker(self.config, self.sessions, clock=clock.true_now)

    def enrol(self, people_dir: Path, faces_dir: Path, encoder: FaceEncoder) -> None:
        for person in PEOPLE:
            (people_dir / person).mkdir(parents=True)
            for photo in sorted((faces_dir / "dev" / person).glob("*.jpg"))[:-1]:
                (people_dir / person / photo.name).symlink_to(photo)
        with self.sessions.begin() as session:
            add_site(session, SITE, "Clock office")
            enrol_folder(session, encoder, people_dir, SITE, consent_taken=ConsentTaken("paper", "test"))

    def register(self, device_id: str, public_key_b64: str) -> None:
        with self.sessions.begin() as session:
            register_device(session, device_id, SITE, public_key_b64)

    def start(self) -> None:
        self.worker.start()
        assert self.worker.ready.wait(20), "ingest worker did not subscribe"

    def stop(self) -> None:
        self.worker.stop()
        self.engine.dispose()

    def device_clock(self, device_id: str) -> tuple[float | None, set[str]]:
        """The kiosk's clock skew (device minus hub time) from its latest health, and that health's alarm kinds."""
        with self.sessions() as session:
            row = session.scalar(select(DeviceHealth).where(DeviceHealth.device_id == device_id))
        if row is None or row.telemetry is None:
            return None, set()
        return row.clock_skew_s, {a["kind"] for a in hub_health.alarms_of(json.loads(row.telemetry))}


class ClockKiosk:
    """The real ``KioskApp`` on an injected clock, shown one enrolled person's photo per visit."""

    def __init__(self, tmp_path: Path, broker_port: int, hub: TrueTimeHub, faces_dir: Path, encoder: FaceEncoder,
                 clock: StepClock, sync: FakeTimeSync) -> None:
        self.clock, self.sync, self.encoder = clock, sync, encoder
        config = kiosk_config(tmp_path, tmp_path / "frames", broker_port)
        self.config = config.model_copy(update={"site_id": SITE, "device_id": "kiosk-clock",
                                                "clock": ClockConfig(require_sync=True)})
        self.config.state_dir.mkdir(parents=True)
        seed_gallery(self.config, faces_dir)
        key = signing.load_private_key(self.config.signing_key_file)
        hub.register(self.config.device_id, signing.public_key_b64(key))
        self.rgb = load_image_rgb(sorted((faces_dir / "dev" / PEOPLE[1]).glob("*.jpg"))[-1])
        self.employee_id = PEOPLE[1]
        self.frames = 0
        self.app = self.start_app(link=False)

    def start_app(self, link: bool = True, camera: ReplayCamera | None = None) -> KioskApp:
        """A new kiosk process on the same state directory (a restart); frames come from ``visit()``
        unless a camera is given for ``run()``."""
        app = KioskApp(self.config, camera or ReplayCamera(Path("unused")), encoder=self.encoder,
                       clocks=self.clock.clocks(), time_sync=self.sync)
        if link:
            app.link.start()
        return app

    def restart(self) -> None:
        self.stop()
        self.app = self.start_app()

    def stop(self) -> None:
        self.app.link.stop()
        self.app.outbox.close()

    def visit(self, at_mono: float | None = None) -> Outcome:
        """Frames until the kiosk decides; the deciding frame near ``at_mono`` (default: two seconds on)."""
        target = self.clock.mono_s + 2.0 if at_mono is None else at_mono
        self.clock.advance(max(0.0, target - 0.2 - self.clock.mono_s))
        for _ in range(8):
            out = self.app.process(Frame(self.frames, self.clock.mono_s, self.rgb, "probe"))
            self.frames += 1
            if out.state not in ("checking", "idle"):
                return out
            self.clock.advance(0.1)
        raise AssertionError(f"no decision in 8 frames: {out}")

    def drained(self, hub: TrueTimeHub, count: int) -> list[dict]:
        """The hub's stored punches once the outbox is empty (every punch acked) and ``count`` are stored."""
        wait_until(lambda: self.app.outbox.depth() == 0 and len(stored_punches(hub, self.config.device_id)) >= count,
                   60, f"{count} punches stored at the hub")
        return stored_punches(hub, self.config.device_id)

    def report_health(self, hub: TrueTimeHub) -> None:
        """One round of the kiosk's housekeeping health report (as ``run()`` sends every health interval and
        on each fresh connection), waited for until the hub has recorded it."""
        assert self.app.link.connected.wait(20), "kiosk not connected"
        recorded = hub.worker.stats["health"]
        self.app.clock.check()
        assert self.app.link.publish_health(self.app.health())
        wait_until(lambda: hub.worker.stats["health"] > recorded, 20, "the kiosk's health recorded at the hub")


def stored_punches(hub: TrueTimeHub, device_id: str) -> list[dict]:
    """The hub's stored punches of a device in seq order: device time as the kiosk sent it, flags and their
    detail, hub receive time."""
    with sqlite3.connect(hub.db_path, timeout=30) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT seq, employee_id, payload, flags, flag_detail, received_at FROM punches "
                          "WHERE device_id = ? ORDER BY seq", (device_id,)).fetchall()
    return [{**dict(r), "device_ts": messages.parse(messages.Punch, r["payload"].encode()).ts,
             "received_at": _utc(r["received_at"])} for r in rows]


def _utc(stored: str) -> datetime:
    when = datetime.fromisoformat(stored)
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


class HubSide(KioskLink):
    """What the hub hears from one device (its health) and can send it (acks)."""

    def _on_connect(self, client, _u, _f, reason_code, _p) -> None:
        if not reason_code.is_failure:
            client.subscribe([(topics.device_topic(self.device_id, kind), 1) for kind in (topics.ACK, topics.HEALTH)])

    def alarms(self) -> list[set[str]]:
        """The alarm kinds of each health message received."""
        return [{a.kind for a in messages.parse(messages.Health, p).alarms} for p in self.payloads(topics.HEALTH)]


def real_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
