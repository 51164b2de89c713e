"""Voice clips: one WAV per fixed message and language, made at build time with espeak-ng.

Clips are generated, not committed: espeak-ng makes ~40 keys x 2 languages in
seconds from the catalogue, so a changed or added message (or a new
language file) gets its clip at the next build, and the repository holds no
binaries that drift from the text. ``kiosk voices build`` runs from the
Makefile (``make voices``) and from provisioning on the Pi; a recorded clip
put in the same place (``<lang>/<key>.wav``) is kept, never overwritten.
Names cannot be prerecorded: ``synthesise`` speaks "धन्यवाद, राम कुमार, इन
09:14" at decision time when espeak-ng is on the device.
"""

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from i18n.catalogue import FALLBACK, catalogue, placeholders

log = logging.getLogger(__name__)

# Messages worth saying; keys with {placeholders} are spoken only by synthesis.
SPOKEN_PREFIXES = ("kiosk.prompt.", "kiosk.refused.", "kiosk.voice.", "kiosk.quality.")
SPOKEN_KEYS = ("kiosk.hint.already", "kiosk.state.keypad", "kiosk.hint.verifying")
ESPEAK_VOICES = {"en": "en-gb", "hi": "hi", "mr": "mr", "bn": "bn", "ta": "ta", "ur": "ur", "te": "te",
                 "gu": "gu", "kn": "kn", "ml": "ml", "pa": "pa", "or": "or"}
ESPEAK_SPEED_WPM = 150   # a little slower than espeak's 175: people hear it once, across a room


class VoiceError(OSError):
    """A clip could not be made (espeak-ng missing or failing)."""


def clip_keys() -> list[str]:
    """Every fixed message that has a clip, from the English catalogue."""
    english = catalogue(FALLBACK).messages
    return sorted(k for k, text in english.items()
                  if (k.startswith(SPOKEN_PREFIXES) or k in SPOKEN_KEYS) and not placeholders(text))


def clip_path(folder: Path, lang: str, key: str) -> Path:
    return folder / lang / f"{key}.wav"


def espeak() -> str | None:
    """The espeak-ng program, if installed."""
    return shutil.which("espeak-ng")


def synthesise(text: str, lang: str, out: Path) -> None:
    """Speak ``text`` in ``lang`` into the WAV file ``out`` with espeak-ng."""
    program = espeak()
    if program is None:
        raise VoiceError("espeak-ng is not installed (apt-get install espeak-ng)")
    voice = ESPEAK_VOICES.get(lang, lang)
    try:
        proc = subprocess.run([program, "-v", voice, "-s", str(ESPEAK_SPEED_WPM), "-w", str(out), text],
                              capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VoiceError(f"espeak-ng failed: {exc}") from exc
    if proc.returncode != 0 or not out.is_file():
        raise VoiceError(f"espeak-ng -v {voice} failed: {proc.stderr.decode(errors='replace').strip()}")


def synthesise_bytes(text: str, lang: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="kiosk-voice-") as tmp:
        out = Path(tmp) / "say.wav"
        synthesise(text, lang, out)
        return out.read_bytes()


def build_clips(folder: Path, langs: list[str], *, overwrite: bool = False) -> tuple[list[Path], list[Path]]:
    """Make the clip of every key in every language; returns (made, kept). Existing files are kept
    (recorded clips) unless ``overwrite``."""
    made: list[Path] = []
    kept: list[Path] = []
    for lang in langs:
        cat = catalogue(lang)
        for key in clip_keys():
            path = clip_path(folder, lang, key)
            if path.exists() and not overwrite:
                kept.append(path)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            synthesise(cat.text(key), cat.lang, path)
            made.append(path)
    log.info("voice clips in %s: %d made, %d kept", folder, len(made), len(kept))
    return made, kept


def clips_line(folder: Path, langs: list[str]) -> str:
    """One line for ``kiosk check-config``: how many clips the voice has, and what to run when some lack."""
    wanted = [clip_path(folder, lang, key) for lang in langs for key in clip_keys()]
    have = sum(path.is_file() for path in wanted)
    advice = "" if have == len(wanted) else f" (run `kiosk voices build --out {folder}`)"
    return f"voice: {have} of {len(wanted)} clips in {folder}{advice}"
