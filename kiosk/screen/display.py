"""The kiosk's display: decision outcomes in, screens out, without slowing the camera loop.

``KioskApp`` calls ``show(frame, obs, outcome)`` for every frame. Here that
only works out the screen state (cheap) and queues the frame; a drawing
thread renders and shows it, at most ``max_fps`` times a second. Frames of
the same screen replace each other in the queue (only the newest is drawn),
but every change of screen is drawn at least once: dlib holds the
interpreter while it looks for a face, so the drawing thread can fall
behind, and a one-place mailbox would lose a whole "accepted" screen. The
text panel, the slow part, is drawn once per state and minute. An accept
or refusal stays up ``result_hold_s`` (frame time) so it can be read, with
the camera picture it was decided on.
Listeners (the voice) hear each change of state, in the camera thread, and
must only queue work.
"""

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import Any

import numpy as np

from hardware.camera import Frame
from kiosk.decision import Outcome
from kiosk.screen.fonts import FontBook
from kiosk.screen.render import Rendered, render_panel, with_camera
from kiosk.screen.state import Context, ScreenState, refined, state_of
from kiosk.screen.window import NullWindow, Window

log = logging.getLogger(__name__)

MAX_PENDING = 8   # screens waiting to be drawn, at most; older ones are dropped beyond that


def label_of(state: ScreenState) -> str:
    """A short name for a screen, for file names and logs: ``refused:not_recognised``, ``checking:blink``."""
    if state.reason:
        return f"{state.name}:{state.reason}"
    if state.prompt:
        return f"{state.name}:{state.prompt.rsplit('.', 1)[-1]}"
    return state.name


class KioskScreen:
    """Shows the kiosk's state in the site's languages through a ``Window``."""

    def __init__(self, window: Window, langs: Sequence[str], context: Context, *, size: tuple[int, int] = (800, 480),
                 hold_s: float = 3.0, max_fps: float = 10.0, fonts: FontBook | None = None,
                 zone: tzinfo | None = None, listeners: Sequence[Callable[[ScreenState], None]] = ()) -> None:
        self.window = window
        self.langs = list(langs)
        self.context = context
        self.size = size
        self.hold_s = hold_s
        self.max_fps = max_fps
        self.fonts = fonts or FontBook()
        self.zone = zone
        self.listeners = list(listeners)
        self.state = ScreenState("idle")
        self._held: tuple[tuple[np.ndarray | None, Any, ScreenState], float] | None = None
        self._cond = threading.Condition()
        self._pending: deque[tuple[np.ndarray | None, Any, ScreenState]] = deque()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._panel: tuple[tuple, Rendered] | None = None
        self._last_drawn: ScreenState | None = None
        self._last_prompt: str | None = None   # of this attempt, to say why it ran out of time

    # -- camera thread ----------------------------------------------------------------

    def bind(self, *, connected: Callable[[], bool]) -> None:
        """Learn whether the hub is reachable (the link exists only once the app does)."""
        self.context = Context(self.context.site, connected, self.context.direction)

    def show(self, frame: Frame | None, obs: Any, outcome: Outcome | None) -> None:
        """One frame and the decision about it; returns at once."""
        face = getattr(obs, "face", None)
        state = state_of(outcome, face is not None, self.context)
        if state.prompt:
            self._last_prompt = state.prompt
        elif state.name == "idle":
            self._last_prompt = None
        self.show_state(refined(state, self._last_prompt), frame, face)

    def show_state(self, state: ScreenState, frame: Frame | None = None, face: Any = None) -> None:
        """Show ``state`` directly (the keypad fallback's screens: ``ScreenState("keypad", params=...)``);
        ``face`` is a box with left/top/right/bottom in ``frame``. Returns at once."""
        ts = frame.ts_s if frame is not None else 0.0
        box = (face.left, face.top, face.right, face.bottom) if face is not None else None
        item = (frame.rgb if frame is not None else None, box, state)
        if state.is_result:
            self._held = (item, ts)
        elif self._held is not None and ts - self._held[1] < self.hold_s:
            # The result stays up with the picture it was decided on, not the next person walking in:
            # a name under someone else's face would hide a wrong match.
            item = self._held[0]
            state = item[2]
        if state != self.state:
            self.state = state
            for listener in self.listeners:
                listener(state)
        with self._cond:
            if self._pending and self._pending[-1][2] == state:
                self._pending[-1] = item                 # the same screen: only its newest frame
            else:
                if len(self._pending) >= MAX_PENDING:
                    self._drop_oldest()
                self._pending.append(item)
            self._cond.notify()
        if self._thread is None and not isinstance(self.window, NullWindow):
            self._thread = threading.Thread(target=self._draw_loop, name="kiosk-screen", daemon=True)
            self._thread.start()

    def _drop_oldest(self) -> None:
        """Make room, losing a passing prompt rather than a result someone must read."""
        for i, (_, _, queued) in enumerate(self._pending):
            if not queued.is_result:
                del self._pending[i]
                return
        self._pending.popleft()

    def close(self) -> None:
        """Draw what is pending, then stop the drawing thread and the window."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(10)

    # -- drawing thread -----------------------------------------------------------------

    def _draw_loop(self) -> None:
        try:
            self.window.open()
        except Exception as exc:  # no display after all: lights, buzzer and voice still work
            log.error("kiosk screen unavailable (%s): %s", type(self.window).__name__, exc)
            self._drain_until_stopped()
            return
        try:
            while True:
                with self._cond:
                    while not self._pending and not self._stopping:
                        self._cond.wait()
                    item = self._pending.popleft() if self._pending else None
                    stopping = self._stopping and not self._pending
                if item is not None:
                    self._draw(*item)
                if stopping:
                    return
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping, timeout=1 / self.max_fps)
        except Exception:
            log.exception("kiosk screen failed; the kiosk goes on without it")
            self._drain_until_stopped()
        finally:
            self.window.close()

    def _drain_until_stopped(self) -> None:
        with self._cond:
            while not self._stopping:
                self._pending.clear()
                self._cond.wait(1.0)

    def _draw(self, rgb: np.ndarray | None, box: Any, state: ScreenState) -> None:
        panel = self.panel(state)
        image = with_camera(panel.image, state.tone, rgb, box)
        self.window.show(image, label_of(state), state != self._last_drawn)   # the next person's accept is new too
        self._last_drawn = state

    def panel(self, state: ScreenState) -> Rendered:
        """The text panel of ``state``, drawn again only when the state or the minute changes."""
        now = datetime.now(self.zone)
        footer = f"{self.context.site} · {now:%H:%M}"
        key = (label_of(state), tuple(sorted(state.params.items())), footer)
        if self._panel is None or self._panel[0] != key:
            self._panel = (key, render_panel(state, self.langs, self.fonts, size=self.size, footer=footer))
        return self._panel[1]
