"""The kiosk's composition root: wires camera, pipeline, decisions, outbox, link and feedback.

Order of a punch (DESIGN.md, "No punch is lost"): the decision accepts ->
the signed punch is committed to the outbox -> only then green light and
beep -> the link publishes it and deletes it on the hub's ack. A punch that
cannot be committed (full or failing disk) is refused on screen, light and
sound ("cannot save: please use the register"), never shown green, and the
kiosk keeps running; the failure travels in health as a ``storage_error``
alarm until a write succeeds again.
"""

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from biometrics.encoder import FaceEncoder, dlib_build
from biometrics.matcher import MatchThresholds
from hardware.camera import CameraError, Frame, FrameSource
from hardware.indicators import Feedback, NullIndicators
from hardware.latest_frame import LatestFrameGrabber
from kiosk import __version__, slots
from kiosk.alarms import Alarms, take_last_exit
from kiosk.assisted import AssistedLog
from kiosk.clock import ClockMonitor, Clocks, TimeSync
from kiosk.commands import CommandRunner, RecentLog
from kiosk.config import KioskConfig
from kiosk.decision import MESSAGES, DecisionMachine, Outcome, RepunchGuard
from kiosk.enrol_capture import EnrolCapture
from kiosk.fallback import FallbackFlow, keypad_of
from kiosk.gallery import GalleryCache
from kiosk.gallery_key import CardGalleryKey, HubGalleryKey
from kiosk.gallery_store import EncryptedGalleryStore
from kiosk.healer import Healer
from kiosk.keypad import Keypad
from kiosk.link import THREAD_ALARM_HOLD_S, MqttLink
from kiosk.logspill import LogSpill
from kiosk.outbox import RememberedPunch
from kiosk.outbox_keeper import OUTBOX_FILE, OutboxKeeper  # noqa: F401 (OUTBOX_FILE: tools import it from here)
from kiosk.pipeline import STAGES, FrameAnalyzer, Observation
from kiosk.punches import make_signed_punch
from protocol.sdnotify import SdNotifier, WatchdogPetter
from kiosk.storage import StorageError
from kiosk.telemetry import collect_health
from kiosk.timesync import TimeResync, TimesyncdResync, system_time_sync
from kiosk.updater import Updater
from protocol import messages, signing
from protocol.backoff import backoff_delay

log = logging.getLogger(__name__)

GALLERY_FILE = "gallery.bin"
QUIET_REPEAT_S = 30.0  # "already punched" for the same person again within this: message only, no beep
HOUSEKEEPING_TICK_S = 1.0
HOUSEKEEPING_RETRY_MAX_S = 60.0
MAX_ALARMS = messages.Health.model_fields["alarms"].metadata[0].max_length
LOCKED_STATUS_S = 5.0  # while the hub has not sent the gallery key: status and watchdog this often
CAMERA_ERROR_PAUSE_S = 0.5   # a camera that fails at once is not read in a tight loop while its restart waits
ROLLBACK_ALARM_S = 86_400.0  # a rollback is reported in health for a day after it happened


@dataclass(frozen=True)
class RunOptions:
    exit_when_done: bool = False      # stop when a replay camera runs out of frames
    wait_gallery_s: float = 0.0       # before the first frame, wait this long for the hub's gallery
    drain_timeout_s: float = 0.0      # at the end, wait this long for the outbox to empty


def thresholds_of(config: KioskConfig) -> MatchThresholds:
    r = config.recognition
    return MatchThresholds(accept_distance=r.accept_distance, min_margin=r.min_margin)


class KioskApp:
    """One kiosk: ``run()`` until the camera ends (replay) or ``stop()``."""

    def __init__(self, config: KioskConfig, camera: FrameSource, feedback: Feedback | None = None,
                 encoder: FaceEncoder | None = None, display: Any = None, clocks: Clocks | None = None,
                 time_sync: TimeSync | None = None, keypad: Keypad | None = None,
                 time_resync: TimeResync | None = None) -> None:
        self.config = config
        self.clocks = clocks or Clocks()
        self.clock = ClockMonitor(config.clock, self.clocks, time_sync or system_time_sync())
        self.camera = camera
        self.feedback = feedback or NullIndicators()
        self.display = display
        self.zone = ZoneInfo(config.timezone)
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._key = signing.load_private_key(config.signing_key_file)
        try:
            config.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"creating the state directory {config.state_dir}", exc, config.state_dir.parent) \
                from exc
        self.alarms = Alarms()
        take_last_exit(config.state_dir, self.alarms)
        self._note_last_update()
        self.keeper = OutboxKeeper(config.state_dir, config.storage)
        self.outbox, recovery = self.keeper.open()
        if recovery is not None:
            self.alarms.raise_alarm(messages.ALARM_OUTBOX_RECOVERED, recovery.detail())
        self.gallery_key = HubGalleryKey(config.device_id, self._key) if config.gallery.key_source == "hub" else None
        self.gallery = GalleryCache(config.site_id, EncryptedGalleryStore(
            config.state_dir / GALLERY_FILE, self.gallery_key or CardGalleryKey(config.signing_key_file)))
        self.gallery.load()
        self.analyzer = FrameAnalyzer(
            encoder or FaceEncoder(upsample=config.recognition.detect_upsample),
            thresholds_of(config), config.quality, config.pipeline, config.recognition.detect_upsample,
        )
        self.machine = DecisionMachine(
            config.decision, config.liveness, self._repunch_guard(), names=self.gallery.name_of,
            clock_ok=self.clock.may_punch,
        )
        self.keypad = keypad or keypad_of(config.match.keypad)
        self.flow = FallbackFlow(config.match, self.machine, self.keypad, templates=self.gallery.templates_of,
                                 people=lambda: len(self.gallery.gallery))
        self.assisted = AssistedLog(config.state_dir, config.match.keep_snapshots)
        self.assisted.open()
        self._report_now = threading.Event()   # an assisted attempt: send health at once
        self._last_already: tuple[str | None, float] = (None, 0.0)
        self.recent_log = RecentLog()  # for the hub's ``logs`` command; removed again in close()
        logging.getLogger().addHandler(self.recent_log)
        self.enrolment = EnrolCapture(self.analyzer.encoder, config.quality,
                                      lambda *done: self.commands.enrolment_done(*done),
                                      upsample=config.recognition.detect_upsample)
        self.updater = Updater(config.update, device_id=config.device_id, key=self._key, state_dir=config.state_dir,
                               running_version=__version__, on_done=lambda *done: self.commands.update_done(*done))
        self.commands = CommandRunner(
            device_id=config.device_id, key=self._key, enrolment=self.enrolment, recent_log=self.recent_log,
            request_full_gallery=lambda: self.link.request_gallery(have_version=0),
            publish=lambda result, wait_s=0.0: self.link.publish_command_result(result, wait_s),
            updater=self.updater, restart=self.request_restart,
        )
        self.link = MqttLink(
            config, self.outbox, sw_version=__version__, gallery_version=lambda: self.gallery.version,
            on_gallery=self.gallery.apply, on_command=self.handle_command, alarms=self.alarms,
            on_hub_time=self.clock.note_hub_time,
            gallery_key=self.gallery_key, on_gallery_unlocked=self.gallery.load,
        )
        self.spill = LogSpill(config.state_dir, config.logs)
        self.healer = Healer(config.heal, state_dir=config.state_dir, spill=self.spill, clock=self.clock,
                             resync=time_resync or TimesyncdResync(), link=self.link,
                             wall=lambda: self.clocks.wall_at(self.zone), monotonic=self.clocks.monotonic)
        self.notifier = SdNotifier()
        self.watchdog = WatchdogPetter.from_env(self.notifier)
        self._frame_times: list[float] = []
        self._ts_shift = 0.0                                  # added to camera times (_on_one_timeline)
        self._timeline: tuple[float, float] | None = None     # (frame time, monotonic) of the last frame
        self._trial_over = False
        self._reported_health = False   # a health message went out on a live connection

    def _repunch_guard(self) -> RepunchGuard:
        """Who punched within the suppression window, remembered across restarts."""
        guard = RepunchGuard(self.config.recognition.repunch_suppress_s)
        try:
            self.outbox.replace_recent_punches(guard.load(
                self.outbox.recent_punches(), wall_epoch=self.clocks.wall(), mono_s=self.clocks.monotonic(),
                boot_id=self.clocks.boot_id, zone=self.zone))
        except StorageError as exc:  # it also writes: start anyway, with what could be read
            log.error("recent punches could not be read or kept (%s); a repeat punch within %.0f s is possible",
                      exc, guard.suppress_s)
        return guard

    # -- lifecycle -------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def request_restart(self) -> None:
        """A new version is installed: end the run so that systemd (Restart=always) starts it."""
        self._stop.set()

    def run(self, options: RunOptions = RunOptions()) -> dict[str, Any]:
        """Process frames until done; returns the summary (see ``summary()``)."""
        self.start()
        try:
            self.camera.open()               # first: a missing camera fails at once, not after the hub answers
            self._wait_for_gallery_key()
            self._wait_for_gallery(options.wait_gallery_s)
            self.notifier.ready()
            self.notifier.status(f"gallery v{self.gallery.version}, outbox {self.keeper.depth()}")
            self._frames(options)
            self._drain(options.drain_timeout_s)
        finally:
            summary = self.close()
        return summary

    def start(self) -> None:
        """Everything but the frames: feedback, the link and the housekeeping thread."""
        log.info("kiosk %s at site %s starting (software version %s, %s, gallery version %s)",
                 self.config.device_id, self.config.site_id, __version__, dlib_build(), self.gallery.version)
        self.spill.open()
        self.notifier.start()
        self.feedback.open()
        if self.keypad is not None:
            self.keypad.open()
        self.link.start()
        self._housekeeper = threading.Thread(target=self._housekeeping, name="kiosk-housekeeping", daemon=True)
        self._housekeeper.start()

    def close(self) -> dict[str, Any]:
        """Stop what ``start()`` started; returns the summary."""
        self.notifier.stopping()
        self._stop.set()
        self.camera.close()
        self.link.stop()
        self.feedback.close()
        if self.keypad is not None:
            self.keypad.close()
        self._housekeeper.join(5)
        summary = self.summary()
        self.outbox.close()
        self.assisted.close()
        self.notifier.close()
        self.spill.close()
        logging.getLogger().removeHandler(self.recent_log)
        return summary

    def summary(self) -> dict[str, Any]:
        """What happened, for the demo account and the tests."""
        times = self.analyzer.times
        return {
            "frames": self.counts["frames"],
            "analysed": self.counts["frames"] - self.counts["resting"],  # the rest fell in a cooldown
            "faces": self.counts["faces"],
            "recognised": self.counts["accepted"] + self.counts["already"],
            "unknown": self.counts["refused:not_recognised"],
            "uncertain": self.counts["uncertain"],
            "suppressed": self.counts["already"],
            "liveness_failed": self.counts["refused:liveness_failed"],
            "timed_out": self.counts["refused:timeout"],
            "cannot_save": self.counts["refused:cannot_save"],
            "clock_refused": self.counts["refused:clock_unset"],
            "punches_face_id": self.counts["punches_face_id"],
            "assisted": self.counts["refused:assisted"],
            "id_mismatch": self.counts["refused:id_mismatch"],
            "punches_created": self.counts["punches_created"],
            "punches_acked": self.link.stats["punches_acked"],
            "punches_rejected": self.link.stats["punches_rejected"],
            "outbox_depth": self.keeper.depth(),
            "gallery_version": self.gallery.version,
            "gallery_people": len(self.gallery.gallery),
            "dlib": dlib_build(),
            "stage_ms": {s: round(times.mean_ms(s), 2) for s in STAGES if times.mean_ms(s) is not None},
        }

    # -- frames ----------------------------------------------------------------------

    def _frames(self, options: RunOptions) -> None:
        """Frames until the camera ends or ``stop()``; a stopped or failing camera is restarted (kiosk/healer.py).

        Only a finite run (``exit_when_done``: demo, bench) still ends on a camera error.
        """
        self.healer.camera.reset(self.clocks.monotonic())
        while not self._stop.is_set():
            self._heal_camera()
            try:
                frame = self._read()
            except CameraError as exc:
                log.error("camera failed: %s", exc)
                if options.exit_when_done:
                    raise
                self.healer.camera_failed(str(exc))
                self._stop.wait(CAMERA_ERROR_PAUSE_S)
                continue
            if frame is None:
                if self.healer.camera.failing and not options.exit_when_done:
                    self._stop.wait(CAMERA_ERROR_PAUSE_S)   # not reopened yet: a closed camera has no frames
                    continue
                if options.exit_when_done or getattr(self.camera, "ended", True):
                    log.info("camera has no more frames")
                    return
                continue
            self.process(self._on_one_timeline(frame))
            self.healer.camera_frame()       # after the work: a slow frame (dlib) is no stalled camera
            self.watchdog.frame_seen()
            self.watchdog.maybe_ping()

    def _on_one_timeline(self, frame: Frame) -> Frame:
        """Frame times that never go back: a restarted camera counts from 0 again (the replay) or from
        its own new origin, while the decision's windows need one timeline. A frame that would go back
        is moved to the last frame's time plus the time that really passed (monotonic clock)."""
        now = self.clocks.monotonic()
        ts = frame.ts_s + self._ts_shift
        if self._timeline is not None and ts < self._timeline[0]:
            last_ts, last_mono = self._timeline
            self._ts_shift += last_ts + max(now - last_mono, 0.0) - ts
            ts = frame.ts_s + self._ts_shift
        self._timeline = (ts, now)
        return frame if ts == frame.ts_s else replace(frame, ts_s=ts)

    def _heal_camera(self) -> None:
        """Close and reopen the camera when the healer says it stopped (on this, the reading thread)."""
        reason = self.healer.camera_due()
        if reason is None:
            return
        log.warning("restarting the camera: %s", reason)
        try:
            self.camera.close()
        except Exception:  # a broken driver may fail to close too; the reopen says whether it is back
            log.exception("closing the camera failed")
        error = None
        try:
            self.camera.open()
        except CameraError as exc:
            error = str(exc)
        self.healer.camera_restarted(reason, error)

    def _read(self) -> Frame | None:
        if isinstance(self.camera, LatestFrameGrabber):
            return self.camera.read(timeout_s=1.0)  # wakes up to notice stop() on a stalled camera
        return self.camera.read()

    def process(self, frame: Frame) -> Outcome:
        """One frame through pipeline and decision; commits a punch when one is accepted."""
        self.counts["frames"] += 1
        self._frame_times.append(time.monotonic())
        del self._frame_times[:-30]
        if self.enrolment.active:  # the hub's enrol command: consent, then capture instead of punching
            outcome = self.enrolment.feed(frame)
            if self.display is not None:
                self.display.show(frame, None, outcome)
            return outcome
        if self.flow.resting(frame.ts_s):
            self.counts["resting"] += 1
            outcome = Outcome("cooldown")
            if self.display is not None:
                self.display.show(frame, None, outcome)
            return outcome
        obs = self.analyzer.analyze(frame.ts_s, frame.rgb, self.gallery.gallery,
                                    identity_settled=self.machine.consensus.decided, ir=frame.ir)
        if obs.face is not None:
            self.counts["faces"] += 1
        if obs.match is not None and obs.match.decision == "uncertain":
            self.counts["uncertain"] += 1
        wall, mono_s = self.clocks.wall_at(self.zone), self.clocks.monotonic()
        outcome = self.flow.feed(obs, wall, mono_s)
        if outcome.state == "refused" and outcome.reason == "id_mismatch":
            outcome = self._assisted(outcome, wall, frame, obs)
        outcome = self._act(outcome, wall, mono_s, frame)
        if self.display is not None:
            self.display.show(frame, obs, outcome)
        return outcome

    def punch(self, outcome: Outcome, wall: datetime, mono_s: float, source: object = None) -> Outcome:
        """Commit an accepted punch, then green; when it cannot be stored, the "cannot save" refusal instead."""
        decision = outcome.punch
        assert decision is not None, "only an accepted outcome carries a punch"
        try:
            row = self.outbox.add(lambda seq: make_signed_punch(
                self._key, device_id=self.config.device_id, site_id=self.config.site_id, decision=decision,
                ts=wall, gallery_version=self.gallery.version, seq=seq,
            ))
        except StorageError as exc:
            log.error("punch for %s NOT stored, refused on the kiosk: %s", decision.employee_id, exc)
            self.counts["refused:cannot_save"] += 1
            self.machine.guard.forget(decision.employee_id)   # the next attempt must not say "already"
            self.feedback.cannot_save()
            return Outcome("refused", prompt=MESSAGES["cannot_save"], employee_id=decision.employee_id,
                           reason="cannot_save")
        try:
            self.outbox.remember_punch(RememberedPunch(decision.employee_id, wall.timestamp(), mono_s,
                                                       self.clocks.boot_id))
        except StorageError as exc:  # the punch itself is stored: still green
            log.error("punch %s stored, but not remembered against repeats after a restart: %s", row.id, exc)
        self.counts["accepted"] += 1
        self.counts["punches_created"] += 1
        if decision.method != "face":
            self.counts["punches_face_id"] += 1
        self.link.wake()
        self.feedback.accepted()  # only now: the punch is on disk
        log.info("punch %s (seq %s) for %s from frame %s", row.id, row.seq, decision.employee_id, source)
        return outcome

    def _assisted(self, outcome: Outcome, wall: datetime, frame: Frame, obs: Observation) -> Outcome:
        """A staff number whose face did not match: kept for the officer (kiosk/assisted.py), never a punch."""
        failed = self.flow.failed
        assert failed is not None, "an id_mismatch outcome comes with its failed attempt"
        try:
            self.assisted.record(ts=wall, claimed_id=failed.claimed_id, known=failed.known, distance=failed.distance,
                                 liveness_passed=failed.liveness_passed, rgb=frame.rgb, box=obs.face)
        except StorageError as exc:   # still refused; the officer is told nothing, so say so in the log
            log.error("assisted attempt for staff number %s NOT kept: %s", failed.claimed_id, exc)
            return outcome
        self._report_now.set()
        return Outcome("refused", prompt=MESSAGES["assisted"], reason="assisted")

    def _act(self, outcome: Outcome, wall: datetime, mono_s: float, frame: Frame) -> Outcome:
        """Light and sound for a decision; the outcome to show (an accept may turn into "cannot save")."""
        if outcome.state == "accepted" and outcome.punch is not None:
            return self.punch(outcome, wall, mono_s, frame.source or frame.index)
        if outcome.state == "already":
            self.counts["already"] += 1
            # Someone who stays in front of the kiosk hears it once, not every few seconds.
            previous, at = self._last_already
            if previous != outcome.employee_id or time.monotonic() - at > QUIET_REPEAT_S:
                self.feedback.attention()
            self._last_already = (outcome.employee_id, time.monotonic())
        elif outcome.state == "refused":
            self.counts[f"refused:{outcome.reason}"] += 1
            self.feedback.refused()
        return outcome

    # -- background ---------------------------------------------------------------------

    def _wait_for_gallery_key(self) -> None:
        """Decide nothing until the hub has sent the gallery key (``gallery.key_source: hub``).

        The link keeps asking and the outbox keeps draining meanwhile. systemd
        gets READY=1 now (its start timeout would otherwise restart a kiosk
        that only waits for the hub), the reason in STATUS=, and watchdog pings.
        """
        if self.gallery_key is None or self.gallery_key.ready.is_set():
            return
        log.warning("waiting for the hub to unlock the gallery (the key is never kept on the card)")
        self.notifier.ready()
        while not self._stop.is_set() and not self.gallery_key.ready.wait(LOCKED_STATUS_S):
            self.notifier.status(f"waiting for the hub to unlock the gallery; outbox {self.keeper.depth()}")
            self.notifier.watchdog_ping()
        log.info("gallery unlocked: version %s, %d people", self.gallery.version, len(self.gallery.gallery))

    def _wait_for_gallery(self, wait_s: float) -> None:
        if wait_s <= 0:
            return
        if self.link.gallery_applied.wait(wait_s):
            log.info("gallery version %s from the hub (%d people)", self.gallery.version, len(self.gallery.gallery))
        else:
            log.warning("no gallery from the hub within %.0f s; going on with version %s", wait_s,
                        self.gallery.version)

    def _drain(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.keeper.depth() and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.1)

    def _housekeeping(self) -> None:
        """Health every ``health_interval_s``, a gallery check every ``gallery_poll_s``; never dies.

        An error is logged, raised as a ``thread_error`` alarm and retried
        after a growing pause, so one bad round cannot end health reports.
        """
        schedule = {"health": time.monotonic(), "poll": time.monotonic() + self.config.gallery_poll_s,
                    "connects": 0}
        failures = 0
        wait = HOUSEKEEPING_TICK_S
        while not self._stop.wait(wait):
            try:
                self._housekeeping_round(schedule)
                failures, wait = 0, HOUSEKEEPING_TICK_S
            except Exception as exc:
                wait = backoff_delay(failures, HOUSEKEEPING_TICK_S, HOUSEKEEPING_RETRY_MAX_S)
                failures += 1
                log.exception("housekeeping failed; retrying in %.1f s", wait)
                self.alarms.raise_alarm(messages.ALARM_THREAD_ERROR, f"housekeeping: {type(exc).__name__}: {exc}",
                                        source="housekeeping", hold_s=THREAD_ALARM_HOLD_S)

    def _housekeeping_round(self, schedule: dict[str, float]) -> None:
        now = time.monotonic()
        self.clock.check()        # notices a step of the wall clock within a second
        if self.link.stats["connects"] != schedule["connects"] and self.link.connected.is_set():
            schedule["connects"], schedule["health"] = self.link.stats["connects"], now  # fresh connection: report now
        if self._report_now.is_set():
            self._report_now.clear()
            schedule["health"] = now
        if now >= schedule["health"]:
            schedule["health"] = now + self.config.health_interval_s
            self.keeper.recheck()
            if self.link.publish_health(self.health()) and self.link.connected.is_set():
                self._reported_health = True
        self.healer.tick()
        if now >= schedule["poll"]:
            schedule["poll"] = now + self.config.gallery_poll_s
            self.link.request_gallery()
        self._keep_if_healthy()

    # -- software slots ------------------------------------------------------------------

    def _note_last_update(self) -> None:
        """A recent rollback (this run is the version gone back to) is an alarm in health, for a day."""
        try:
            outcome = slots.read_outcome(self.config.update.root)
        except slots.SlotError as exc:
            log.warning("cannot read the last update's outcome: %s", exc)
            return
        age_s = time.time() - outcome.at if outcome is not None else ROLLBACK_ALARM_S
        if outcome is not None and outcome.outcome == slots.ROLLED_BACK and age_s < ROLLBACK_ALARM_S:
            self.alarms.raise_alarm(messages.ALARM_UPDATE_ROLLED_BACK, outcome.detail, hold_s=ROLLBACK_ALARM_S - age_s,
                                    since=datetime.fromtimestamp(outcome.at, timezone.utc))

    def _keep_if_healthy(self) -> None:
        """Keep this version, if it is on trial, once it has run ``confirm_after_s`` connected and reporting."""
        if self._trial_over or not self._reported_health or not self.link.connected.is_set():
            return
        if time.monotonic() - self._started < self.config.update.confirm_after_s:
            return
        self._trial_over = True   # asked once per run: a version not on trial stays so
        try:
            if slots.confirm(self.config.update.root, __version__, time.time(), self.config.update.keep_versions):
                log.info("version %s passed its trial and is kept", __version__)
        except (slots.SlotError, OSError) as exc:
            log.error("version %s could not be kept (%s); it may be rolled back", __version__, exc)

    def health(self) -> messages.Health:
        """One health message, with every alarm raised on this kiosk (storage first)."""
        storage = self.keeper.storage_alarm()
        assisted = self.assisted.alarm()
        alarms = ([storage] if storage else []) + ([assisted] if assisted else []) + self.alarms.active()
        return collect_health(
            now=self.clocks.wall_at(self.zone),
            state_dir=self.config.state_dir,
            outbox_depth=self.keeper.depth(),
            oldest_unacked_s=self.keeper.oldest_age_s(),
            gallery_version=self.gallery.version,
            sw_version=__version__,
            camera_fps=self._camera_fps(),
            process_uptime_s=time.monotonic() - self._started,
            alarms=(alarms + self.clock.alarms())[:MAX_ALARMS],
            heal=self.healer.report(),
        )

    def _camera_fps(self) -> float | None:
        fps = getattr(self.camera, "camera_fps", None)
        if fps is not None:
            return fps
        times = self._frame_times
        if len(times) < 2 or times[-1] == times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])

    # -- remote commands -------------------------------------------------------------------

    def handle_command(self, command: messages.Command) -> messages.CommandResult | None:
        """The link's command handler (kiosk/commands.py)."""
        return self.commands.handle(command)
