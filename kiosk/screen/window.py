"""Where rendered screens go: a full-screen pygame/SDL window on the Pi, an OpenCV window, PNG files, or nowhere.

pygame (SDL2) runs on Raspberry Pi OS both under the desktop (X11/Wayland)
and on a bare console (KMS/DRM), and Debian ships it (``python3-pygame``,
installed by provisioning), so it is the kiosk's window; OpenCV's GUI build
is the second choice. Both are imported only when opened, so tests and
headless machines never need them. ``FileWindow`` saves one PNG per screen
change (the demo shows them); ``FakeWindow`` records what was shown (tests).
"""

import logging
import os
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

Backend = Literal["auto", "pygame", "opencv", "file", "none"]


class Window(Protocol):
    def open(self) -> None: ...
    def show(self, rgb: np.ndarray, label: str, changed: bool) -> None:
        """``label`` names the screen (``accepted``); ``changed`` is True when it differs from the last one."""
    def close(self) -> None: ...


class NullWindow:
    """No screen (a headless machine): the kiosk still lights, beeps and speaks."""

    def open(self) -> None:
        pass

    def show(self, rgb: np.ndarray, label: str, changed: bool) -> None:
        pass

    def close(self) -> None:
        pass


class FakeWindow:
    """Records every picture shown, for tests (shipped here like gpiozero's MockPin)."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, np.ndarray]] = []
        self.opened = self.closed = False

    def open(self) -> None:
        self.opened = True

    def show(self, rgb: np.ndarray, label: str, changed: bool) -> None:
        self.shown.append((label, rgb))

    def close(self) -> None:
        self.closed = True

    def labels(self) -> list[str]:
        return [label for label, _ in self.shown]


class FileWindow:
    """Saves each new screen as ``NNN-<label>.png`` in ``folder`` (not every frame: one per change)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.saved: list[Path] = []

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def show(self, rgb: np.ndarray, label: str, changed: bool) -> None:
        if not changed:
            return
        path = self.folder / f"{len(self.saved) + 1:03d}-{label.replace(':', '-')}.png"
        Image.fromarray(rgb).save(path)
        self.saved.append(path)

    def close(self) -> None:
        pass


class PygameWindow:
    """A full-screen SDL window (pygame); the mouse pointer hidden."""

    def __init__(self, size: tuple[int, int], fullscreen: bool = True, title: str = "kiosk") -> None:
        self.size = size
        self.fullscreen = fullscreen
        self.title = title
        self._pygame = None
        self._surface = None

    def open(self) -> None:
        import pygame  # only on the kiosk (python3-pygame)

        pygame.display.init()
        flags = pygame.FULLSCREEN if self.fullscreen else 0
        self._surface = pygame.display.set_mode(self.size, flags)
        pygame.display.set_caption(self.title)
        pygame.mouse.set_visible(False)
        self._pygame = pygame

    def show(self, rgb: np.ndarray, label: str, changed: bool) -> None:
        pygame = self._pygame
        picture = pygame.image.frombuffer(np.ascontiguousarray(rgb).tobytes(), (rgb.shape[1], rgb.shape[0]), "RGB")
        if picture.get_size() != self._surface.get_size():
            picture = pygame.transform.smoothscale(picture, self._surface.get_size())
        self._surface.blit(picture, (0, 0))
        pygame.display.flip()
        pygame.event.pump()  # SDL needs its queue read or the window is "not responding"

    def close(self) -> None:
        if self._pygame is not None:
            self._pygame.display.quit()


class OpenCvWindow:
    """A full-screen OpenCV window (needs opencv-python with GUI support, not the -headless wheel)."""

    def __init__(self, title: str = "kiosk") -> None:
        self.title = title
        self._cv2 = None

    def open(self) -> None:
        import cv2

        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
        cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        self._cv2 = cv2

    def show(self, rgb: np.ndarray, label: str, changed: bool) -> None:
        self._cv2.imshow(self.title, rgb[:, :, ::-1])
        self._cv2.waitKey(1)

    def close(self) -> None:
        if self._cv2 is not None:
            self._cv2.destroyAllWindows()


def has_display(env: dict[str, str] | None = None) -> bool:
    """A desktop session or a KMS/DRM console the window can use."""
    env = os.environ if env is None else env
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or env.get("SDL_VIDEODRIVER"):
        return True
    return any(Path("/dev/dri").glob("card*"))


def make_window(backend: Backend, *, size: tuple[int, int], fullscreen: bool, folder: Path | None,
                title: str = "kiosk") -> Window:
    """The configured window; ``auto`` is pygame where it and a display exist, else none (said in the log)."""
    if backend == "none":
        return NullWindow()
    if backend == "file":
        if folder is None:
            raise ValueError("screen.folder is needed for screen.backend: file")
        return FileWindow(folder)
    if backend == "opencv":
        return OpenCvWindow(title)
    if backend == "pygame":
        return PygameWindow(size, fullscreen, title)
    try:
        import pygame  # noqa: F401
    except ImportError:
        log.warning("no kiosk screen: pygame is not installed (apt-get install python3-pygame)")
        return NullWindow()
    if not has_display():
        log.warning("no kiosk screen: no display (DISPLAY, WAYLAND_DISPLAY or /dev/dri/card*)")
        return NullWindow()
    return PygameWindow(size, fullscreen, title)
