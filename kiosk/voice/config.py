"""The kiosk voice's settings (``voice:`` in kiosk.yaml)."""

import re
from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def parse_quiet_hours(text: str) -> tuple[time, time]:
    """``"21:00-07:00"`` -> (21:00, 07:00); the span may run over midnight."""
    m = _HOURS.match(text.strip())
    if not m:
        raise ValueError(f"quiet hours must look like 21:00-07:00, not {text!r}")
    h1, m1, h2, m2 = map(int, m.groups())
    return time(h1, m1), time(h2, m2)


def is_quiet(now: time, span: tuple[time, time] | None) -> bool:
    """Whether ``now`` falls in the quiet span (start included, end excluded)."""
    if span is None:
        return False
    start, end = span
    if start <= end:
        return start <= now < end
    return now >= start or now < end


class VoiceConfig(BaseModel):
    """What the kiosk says and how loud; the words come from the catalogue in the kiosk's ``languages``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="speak prompts and results")
    sink: Literal["aplay", "none"] = Field("aplay", description="aplay: ALSA's player (alsa-utils); none: silent")
    device: str | None = Field(None, description="ALSA device for aplay -D (default: the system's default)")
    clips_dir: Path = Field(Path("/opt/kiosk/voices"),
                            description="voice clips, <lang>/<catalogue key>.wav, made by `kiosk voices build`")
    volume: float = Field(0.8, ge=0, le=1, description="loudness, 0 silent to 1 as recorded")
    quiet_hours: str | None = Field(None, description="e.g. 21:00-07:00: within it, quiet_volume instead")
    quiet_volume: float = Field(0.0, ge=0, le=1, description="loudness during quiet_hours (0: say nothing)")
    speak_names: bool = Field(True, description="say the name and In/Out time with espeak-ng when it is "
                                                "installed (else the fixed 'thank you' clip)")

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quiet_hours(value)
        return value
