"""The person-facing side of a kiosk, built from its config: the screen and the voice.

``KioskApp`` takes any ``display`` with ``show(frame, obs, outcome)``; this
builds the ``KioskScreen`` for it (with the voice as its listener, so both
say the same thing) and owns their threads. With ``display: false`` or no
display the screen still works out its states for the voice, but draws
nothing.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from kiosk.config import KioskConfig
from kiosk.daybook import DAYBOOK_FILE, DayBook
from kiosk.screen.display import KioskScreen
from kiosk.screen.state import Context
from kiosk.screen.window import NullWindow, Window, make_window
from kiosk.voice.sink import AplaySink, AudioSink, NullSink
from kiosk.voice.speaker import Speaker

log = logging.getLogger(__name__)


@dataclass
class KioskUi:
    screen: KioskScreen
    speaker: Speaker | None

    def bind(self, *, connected: Callable[[], bool]) -> None:
        self.screen.bind(connected=connected)

    def close(self) -> None:
        self.screen.close()
        if self.speaker is not None:
            self.speaker.close()


def build_ui(config: KioskConfig, *, headless: bool = False, window: Window | None = None,
             sink: AudioSink | None = None) -> KioskUi:
    """Screen and voice as configured; ``window`` / ``sink`` replace the configured ones (tests)."""
    zone = ZoneInfo(config.timezone)
    sc = config.screen
    if window is None:
        window = NullWindow() if headless or not config.display else make_window(
            sc.backend, size=(sc.width, sc.height), fullscreen=sc.fullscreen, folder=sc.folder, title=config.device_id)
    speaker = None
    if config.voice.enabled:
        if sink is None:
            sink = AplaySink(config.voice.device) if config.voice.sink == "aplay" else NullSink()
        speaker = Speaker(config.voice, config.languages, sink, now=lambda: datetime.now(zone))
        speaker.start()
    book = DayBook(config.state_dir / DAYBOOK_FILE)
    context = Context(site=sc.site_name or config.site_id,
                      direction=lambda employee_id: book.record(employee_id, datetime.now(zone).date()))
    screen = KioskScreen(window, config.languages, context, size=(sc.width, sc.height), hold_s=sc.result_hold_s,
                         max_fps=sc.max_fps, zone=zone, listeners=[speaker.on_state] if speaker else [])
    log.info("kiosk screen: %s in %s; voice: %s", type(window).__name__, "/".join(config.languages),
             f"{config.voice.sink} at volume {config.voice.volume}" if speaker else "off")
    return KioskUi(screen, speaker)
