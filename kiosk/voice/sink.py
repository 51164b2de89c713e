"""Audio sinks: something that plays WAV bytes. aplay (ALSA) on the Pi; a recording fake in tests."""

import io
import logging
import subprocess
import wave
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)


class AudioSink(Protocol):
    def play(self, wav: bytes, label: str) -> None:
        """Play ``wav`` to the end (called on the voice's worker thread, never the camera's)."""


class AplaySink:
    """ALSA's ``aplay`` (alsa-utils) reading the WAV from stdin."""

    def __init__(self, device: str | None = None, timeout_s: float = 20.0) -> None:
        self.device = device
        self.timeout_s = timeout_s

    def play(self, wav: bytes, label: str) -> None:
        args = ["aplay", "-q", *(["-D", self.device] if self.device else []), "-"]
        try:
            proc = subprocess.run(args, input=wav, capture_output=True, timeout=self.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("voice %s not played: %s", label, exc)
            return
        if proc.returncode != 0:
            log.warning("voice %s not played: aplay: %s", label, proc.stderr.decode(errors="replace").strip())


class NullSink:
    def play(self, wav: bytes, label: str) -> None:
        pass


class FakeSink:
    """Records what was played (label, sample rate, peak amplitude), for tests."""

    def __init__(self) -> None:
        self.played: list[tuple[str, int, int]] = []

    def play(self, wav: bytes, label: str) -> None:
        rate, samples = read_pcm(wav)
        self.played.append((label, rate, int(np.abs(samples.astype(np.int32)).max(initial=0))))

    def labels(self) -> list[str]:
        return [label for label, _, _ in self.played]


def read_pcm(wav: bytes) -> tuple[int, np.ndarray]:
    """(sample rate, 16-bit samples) of a WAV; raises ValueError for anything else."""
    try:
        with wave.open(io.BytesIO(wav)) as w:
            if w.getsampwidth() != 2:
                raise ValueError("only 16-bit WAV clips are supported")
            return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2").copy()
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a WAV clip: {exc}") from exc


def scaled(wav: bytes, volume: float) -> bytes:
    """The clip at ``volume`` (0..1): aplay has no volume of its own, and the mixer is shared."""
    if volume >= 1.0:
        return wav
    with wave.open(io.BytesIO(wav)) as w:
        params = w.getparams()
        samples = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setparams(params)
        w.writeframes((samples.astype(np.float32) * volume).astype("<i2").tobytes())
    return out.getvalue()
