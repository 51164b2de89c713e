"""Page tests in headless Debian Chromium driven by Selenium (phone page, dashboard).

- ``ServedApp``: any ASGI app served by uvicorn in a thread on 127.0.0.1 and a free
  port (127.0.0.1 is a secure context, so camera and position work without TLS).
- ``write_y4m``: a fake camera file from a real photo; Chromium loops it as the webcam.
- ``browser_factory`` (pytest fixture): launches Chromium, optionally with a fake camera
  file (fixed per launch, so start one browser per file); every browser is closed
  at teardown. Skips when chromium, chromedriver or selenium are missing.
- ``place``: grants camera and position to an origin and sets the reported position.
- ``wait_for`` / ``wait_attribute`` / ``wait_text``: wait on the page, never a fixed sleep.
- ``screenshot_stats``: mean and spread of a screenshot, to tell a page from a blank one.

Debian packages: ``chromium`` and ``chromium-driver``; PyPI: ``selenium``. Selenium is
given both paths, so it never downloads a browser or driver of its own.
"""

import io
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DEFAULT_TIMEOUT_S = 30.0


class ServedApp:
    """Serves ``app`` with uvicorn in a daemon thread; ``url`` once started."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self.port: int | None = None
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> "ServedApp":
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))  # the port is ours before uvicorn starts: no race for a free port
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"uvicorn-{self.port}")
        self._thread.start()
        ready = threading.Event()
        if not _poll(lambda: self._server.started or not self._thread.is_alive(), ready, timeout_s) \
                or not self._server.started:
            raise RuntimeError(f"uvicorn did not start on {self.url}")
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> "ServedApp":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _poll(condition: Callable[[], bool], event: threading.Event, timeout_s: float, interval_s: float = 0.02) -> bool:
    """True once ``condition()`` holds, False after ``timeout_s`` (waits on an event, not sleep)."""
    remaining = timeout_s
    while remaining > 0:
        if condition():
            return True
        event.wait(interval_s)
        remaining -= interval_s
    return condition()


def rgb_to_i420(rgb: np.ndarray) -> bytes:
    """One I420 frame (BT.601 limited range) from an even-sized RGB uint8 array."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.257 * r + 0.504 * g + 0.098 * b + 16
    u = -0.148 * r - 0.291 * g + 0.439 * b + 128
    v = 0.439 * r - 0.368 * g - 0.071 * b + 128

    def half(plane: np.ndarray) -> np.ndarray:  # 2x2 average for the chroma planes
        return (plane[0::2, 0::2] + plane[1::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 1::2]) / 4

    planes = (y, half(u), half(v))
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def fit_image(rgb: np.ndarray, width: int, height: int, fill: int = 128) -> np.ndarray:
    """``rgb`` scaled to fit ``width`` x ``height`` keeping its aspect, centred on grey."""
    from PIL import Image

    img = Image.fromarray(rgb)
    scale = min(width / img.width, height / img.height)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BICUBIC)
    canvas = Image.new("RGB", (width, height), (fill, fill, fill))
    canvas.paste(img, ((width - img.width) // 2, (height - img.height) // 2))
    return np.asarray(canvas)


def write_y4m(rgb: np.ndarray, path: Path, width: int = 320, height: int = 240, frames: int = 10,
              fps: int = 10) -> Path:
    """A Y4M video of ``frames`` copies of ``rgb`` (fitted to ``width`` x ``height``) for
    ``--use-file-for-fake-video-capture``."""
    if width % 2 or height % 2:
        raise ValueError("I420 needs even width and height")
    frame = rgb_to_i420(fit_image(rgb, width, height))
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            f.write(b"FRAME\n")
            f.write(frame)
    return path


def write_y4m_frames(frames: Iterable[np.ndarray], path: Path, width: int = 640, height: int = 480,
                     fps: int = 10) -> Path:
    """A Y4M video of ``frames`` in order (each fitted to ``width`` x ``height``), e.g. a real video
    resampled, for ``--use-file-for-fake-video-capture`` (Chromium loops it)."""
    if width % 2 or height % 2:
        raise ValueError("I420 needs even width and height")
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for rgb in frames:
            f.write(b"FRAME\n")
            f.write(rgb_to_i420(fit_image(rgb, width, height)))
    return path


def chromium_available() -> str | None:
    """None when a browser test can run, else why not."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if shutil.which(path) is None:
            return f"{path} not found (apt-get install {package})"
    return None


@contextmanager
def chromium(fake_video: Path | None = None, *, window: tuple[int, int] = (412, 915),
             extra_args: tuple[str, ...] = ()) -> Iterator[Any]:
    """A headless Chromium WebDriver with a fresh profile; ``fake_video`` feeds getUserMedia."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}",
                "--use-fake-ui-for-media-stream", *extra_args):
        options.add_argument(arg)
    if fake_video is not None:
        options.add_argument("--use-fake-device-for-media-stream")
        options.add_argument(f"--use-file-for-fake-video-capture={fake_video}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser_factory() -> Iterator[Callable[..., Any]]:
    """``browser_factory(fake_video=None, **kw)`` -> a WebDriver, closed at teardown."""
    why = chromium_available()
    if why:
        pytest.skip(why)
    stack: list[Any] = []

    def launch(fake_video: Path | None = None, **kw: Any) -> Any:
        manager = chromium(fake_video, **kw)
        driver = manager.__enter__()
        stack.append(manager)
        return driver

    yield launch
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


def place(driver: Any, origin: str, lat: float, lon: float, accuracy_m: float = 10.0) -> None:
    """Grant camera and position to ``origin`` and report this position from now on."""
    driver.execute_cdp_cmd("Browser.grantPermissions",
                           {"origin": origin, "permissions": ["geolocation", "videoCapture"]})
    driver.execute_cdp_cmd("Emulation.setGeolocationOverride",
                           {"latitude": lat, "longitude": lon, "accuracy": accuracy_m})


def wait_for(driver: Any, condition: Callable[[Any], Any], timeout_s: float = DEFAULT_TIMEOUT_S,
             message: str = "") -> Any:
    """Selenium's WebDriverWait: ``condition(driver)`` polled until truthy; a TimeoutException
    carries ``message`` and the page's status/result text to say what the page showed. An element
    the page replaced while the condition read it (a list re-rendered) is read again next poll."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout_s, ignored_exceptions=(StaleElementReferenceException,)).until(condition)
    except TimeoutException as exc:
        seen = driver.execute_script("return document.body ? document.body.innerText.slice(0, 600) : ''")
        raise TimeoutException(f"{message}; the page shows: {seen!r}") from exc


def wait_attribute(driver: Any, css: str, name: str, values: set[str] | None = None,
                   timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """Wait until the element's attribute is set (and in ``values`` when given); returns it."""
    from selenium.webdriver.common.by import By

    def ready(d: Any) -> str | bool:
        found = d.find_elements(By.CSS_SELECTOR, css)
        value = found[0].get_attribute(name) if found else None
        return value if value and (values is None or value in values) else False

    return wait_for(driver, ready, timeout_s, f"{css}[{name}] not in {values}")


def wait_text(driver: Any, css: str, predicate: Callable[[str], bool] = bool,
              timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """Wait until a displayed element's text satisfies ``predicate``; returns the text."""
    from selenium.webdriver.common.by import By

    def ready(d: Any) -> str | bool:
        found = [e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        text = found[0].text if found else ""
        return text if found and predicate(text) else False

    return wait_for(driver, ready, timeout_s, f"text of {css}")


def screenshot_stats(driver: Any) -> tuple[float, float]:
    """Mean and standard deviation of the grey levels of a screenshot (a blank page has ~0 spread)."""
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("L"), dtype=np.float32)
    return float(grey.mean()), float(grey.std())
