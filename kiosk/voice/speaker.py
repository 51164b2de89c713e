"""Turns screen states into speech on a worker thread, in each of the site's languages.

``on_state`` is a ``KioskScreen`` listener: it runs in the camera loop, so it
only decides what to say and queues it. The worker reads the clip (or
synthesises the sentence with the person's name), scales it to the volume
of the hour and plays it on the sink. A new state replaces anything not yet
said: after a refusal nobody wants the "please blink" from before it.
"""

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from i18n.catalogue import catalogue
from kiosk.screen.state import ScreenState
from kiosk.voice.clips import VoiceError, clip_path, synthesise_bytes
from kiosk.voice.config import VoiceConfig, is_quiet, parse_quiet_hours
from kiosk.voice.sink import AudioSink, scaled

log = logging.getLogger(__name__)

# A spoken item: (catalogue key of the fixed clip, optional (key, params) to synthesise instead)
Utterance = tuple[str, tuple[str, dict[str, str]] | None]
# Shown but not said: they ask nothing of the person, and speaking them would hold back the result.
SILENT_PROMPTS = frozenset({"kiosk.prompt.hold_still", "kiosk.quality.multiple_faces", "kiosk.quality.no_face"})


def utterance_for(state: ScreenState) -> Utterance | None:
    """What to say for a screen, or None (idle, and checking without a prompt, are silent)."""
    p = dict(state.params)
    if state.name in ("accepted", "offline_saved"):
        named = ("kiosk.voice.accepted_named", p) if p.get("name") and p.get("direction") and p.get("time") \
            else None
        return "kiosk.voice.accepted", named
    if state.name == "already":
        return "kiosk.hint.already", ("kiosk.state.already", p) if p.get("name") else None
    if state.name == "refused" and state.reason:
        return f"kiosk.refused.{state.reason}", None
    if state.prompt:
        return None if state.prompt in SILENT_PROMPTS else (state.prompt, None)
    if state.name == "keypad":
        return "kiosk.state.keypad", None
    if state.name == "verifying":
        return "kiosk.hint.verifying", None
    return None


class Speaker:
    """Says prompts and results through an ``AudioSink``; ``start()`` / ``close()`` own the worker."""

    def __init__(self, config: VoiceConfig, langs: Sequence[str], sink: AudioSink, *,
                 now: Callable[[], datetime] = datetime.now,
                 synthesise: Callable[[str, str], bytes] | None = synthesise_bytes) -> None:
        self.config = config
        self.langs = list(langs)
        self.sink = sink
        self.now = now
        self.synthesise = synthesise if config.speak_names else None
        self.quiet = parse_quiet_hours(config.quiet_hours) if config.quiet_hours else None
        self._queue: queue.Queue[Utterance | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._last_prompt: str | None = None
        self._newer = threading.Event()   # set when something was queued after what is being said
        self._missing: set[Path] = set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="kiosk-voice", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 10.0) -> None:
        """Say what is queued, then stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout_s)

    def volume(self) -> float:
        return self.config.quiet_volume if is_quiet(self.now().time(), self.quiet) else self.config.volume

    def on_state(self, state: ScreenState) -> None:
        """A new screen: queue what it says (camera thread: no I/O here)."""
        if not self.config.enabled:
            return
        said = utterance_for(state)
        if said is None:
            if state.name == "idle":      # the attempt is over: the next person hears the prompt again
                self._last_prompt = None
            return
        if state.prompt:   # a prompt is said once per attempt, not again each time it comes back
            if said[0] == self._last_prompt:
                return
            self._last_prompt = said[0]
        else:
            self._last_prompt = None
        self._drop_pending()
        self._queue.put(said)
        self._newer.set()

    def _drop_pending(self) -> None:
        try:
            while True:
                if self._queue.get_nowait() is None:   # keep a pending stop
                    self._queue.put(None)
                    return
        except queue.Empty:
            pass

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._newer.clear()
            try:
                self._say(item)
            except Exception:  # a voice problem must never end the kiosk
                log.exception("voice failed for %s", item[0])

    def _say(self, item: Utterance) -> None:
        volume = self.volume()
        if volume <= 0:
            return
        key, named = item
        for i, lang in enumerate(self.langs):
            if i and self._newer.is_set():   # something newer to say: the rest of this is stale
                return
            wav = self._named(named, lang) if named else None
            label = f"{lang}/{named[0]}" if wav is not None and named else f"{lang}/{key}"
            if wav is None:
                wav = self._clip(key, lang)
            if wav is not None:
                self.sink.play(scaled(wav, volume), label)

    def _named(self, named: tuple[str, dict[str, str]], lang: str) -> bytes | None:
        """The sentence with the person's name, synthesised now; None where espeak-ng is missing."""
        if self.synthesise is None:
            return None
        key, params = named
        cat = catalogue(lang)
        params = dict(params)
        if "direction" in params:
            params["direction"] = cat.text(f"kiosk.direction.{params['direction']}")
        try:
            return self.synthesise(cat.text(key, **params), cat.lang)
        except VoiceError as exc:
            log.info("name not spoken (%s); the fixed clip instead", exc)
            return None

    def _clip(self, key: str, lang: str) -> bytes | None:
        path: Path = clip_path(self.config.clips_dir, lang, key)
        try:
            return path.read_bytes()
        except OSError:
            if path not in self._missing:   # once per clip, not at every punch
                self._missing.add(path)
                log.warning("no voice clip %s (run `kiosk voices build`)", path)
            return None
