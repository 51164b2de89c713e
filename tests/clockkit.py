"""The kiosk on a clock a test steps: a real ``KioskApp`` against a real broker and ``hub ingest``.

Used by tests/test_kiosk_clock_steps.py. ``StepClock`` steps the wall clock
while the monotonic clock runs on, as NTP correcting a Pi without an RTC
would; ``stored_punches`` returns what the hub stored (device time, flags,
receive time) so hub-side assertions on skew flags can be added beside the
kiosk-side ones.
"""

import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from biometrics.encoder import FaceEncoder, load_image_rgb
from hardware.camera import Frame
from hardware.replay import ReplayCamera
from kiosk.app import KioskApp
from kiosk.clock import ClockConfig, Clocks
from kiosk.decision import Outcome
from kiosk.timesync import FakeTimeSync
from protocol import messages, signing, topics
from tests.faultkit import SITE, HubIngest, wait_until
from tests.punchkit import KioskLink
from tests.test_kiosk_app import PEOPLE, kiosk_config, seed_gallery

IST = ZoneInfo("Asia/Kolkata")


class StepClock:
    """A wall clock the test steps, as NTP or a person would, while the monotonic clock runs on."""

    def __init__(self, wall: datetime, mono_s: float = 1000.0, boot_id: str = "boot-1") -> None:
        self.mono_s = mono_s
        self.boot_id = boot_id
        self._offset = wall.timestamp() - mono_s

    def wall(self) -> float:
        return self.mono_s + self._offset

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
        self.mono_s, self.boot_id = 5.0, boot_id

    def clocks(self) -> Clocks:
        return Clocks(wall=self.wall, monotonic=self.monotonic, boot_id=self.boot_id)

    def hhmm(self) -> str:
        return datetime.fromtimestamp(self.wall(), IST).strftime("%H:%M")


class ClockKiosk:
    """The real ``KioskApp`` on an injected clock, shown one enrolled person's photo per visit."""

    def __init__(self, tmp_path: Path, broker_port: int, hub: HubIngest, faces_dir: Path, encoder: FaceEncoder,
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

    def drained(self, hub: HubIngest, count: int) -> list[dict]:
        wait_until(lambda: self.app.outbox.depth() == 0 and len(stored_punches(hub, self.config.device_id)) >= count,
                   60, f"{count} punches stored at the hub")
        return stored_punches(hub, self.config.device_id)


def stored_punches(hub: HubIngest, device_id: str) -> list[dict]:
    """The hub's stored punches of a device in seq order: device time as the kiosk sent it, flags, receive time."""
    with sqlite3.connect(hub.db_path, timeout=30) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT seq, employee_id, payload, flags, received_at FROM punches "
                          "WHERE device_id = ? ORDER BY seq", (device_id,)).fetchall()
    return [{**dict(r), "device_ts": messages.parse(messages.Punch, r["payload"].encode()).ts} for r in rows]


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
