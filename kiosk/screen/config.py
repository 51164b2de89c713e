"""The kiosk screen's settings (``screen:`` in kiosk.yaml)."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ScreenConfig(BaseModel):
    """How the screen is shown; what it says comes from the catalogue in the kiosk's ``languages``."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["auto", "pygame", "opencv", "file", "none"] = Field(
        "auto", description="auto: a full-screen pygame (SDL) window where pygame and a display exist, else none; "
        "file: one PNG per screen change in screen.folder (demo, review); opencv: a GUI OpenCV build")
    width: int = Field(800, ge=320, description="screen width in pixels (the Pi 7-inch display is 800x480)")
    height: int = Field(480, ge=240, description="screen height in pixels")
    fullscreen: bool = Field(True, description="pygame: take the whole display")
    folder: Path | None = Field(None, description="file backend: where the PNGs go")
    site_name: str | None = Field(None, description="the site as people know it, shown on accept; default site_id")
    result_hold_s: float = Field(3.0, ge=0, description="an accept or refusal stays on screen this long")
    max_fps: float = Field(10.0, gt=0, description="at most this many screen updates a second (spares the CPU)")

    @model_validator(mode="after")
    def _folder_for_files(self) -> "ScreenConfig":
        if self.backend == "file" and self.folder is None:
            raise ValueError("screen.backend file needs screen.folder (where the PNGs go)")
        return self
