"""Kiosk software updates in live tests: wheels of the kiosk package built here, and kiosk.service run as
systemd would run it.

- ``build_kiosk_wheel``: a real wheel (zip, dist-info, RECORD, the ``kiosk``
  console script) of this repository's ``kiosk/`` package at a given
  version, built offline in a fraction of a second; ``broken=True`` makes
  one whose kiosk fails at start, as a bad release would; ``slow_frame_s``
  one that works but spends that long more on every camera frame, as a
  release with a costly new step would (its health shows the camera slower).
- ``KioskService``: the ExecStartPre and ExecStart lines of
  systemd/kiosk.service with this machine's paths, restarted after every
  exit like ``Restart=always`` (the stand-in for systemd, as the replay
  camera is for a camera).

The slot virtualenvs see this venv's packages (numpy, dlib, paho, and the
protocol/hub packages) through ``update.base_site_dirs``, as a Pi's see the
OS's through ``--system-site-packages``; ``kiosk`` itself comes from the slot.
"""

import base64
import hashlib
import re
import shlex
import signal
import subprocess
import sys
import sysconfig
import threading
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "kiosk.service"
DIST = "face_attendance_kiosk"
BROKEN_START = b"        self.start()\n        try:\n            self.camera.open()"
EACH_FRAME = b"            self.process(self._on_one_timeline(frame))\n"


def outer_site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def build_kiosk_wheel(out: Path, version: str, broken: bool = False, slow_frame_s: float | None = None) -> Path:
    """A wheel of ``kiosk/`` whose ``__version__`` is ``version``; ``broken``: its ``run`` raises at once;
    ``slow_frame_s``: its frame loop waits that long before each frame."""
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{DIST}-{version}-py3-none-any.whl"
    info = f"{DIST}-{version}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted((REPO / "kiosk").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(REPO).as_posix()] = path.read_bytes()
    files["kiosk/__init__.py"], n = re.subn(rb'__version__ = "[^"]*"', f'__version__ = "{version}"'.encode(),
                                            files["kiosk/__init__.py"])
    assert n == 1, "kiosk/__init__.py has no __version__ line"
    if broken:
        assert BROKEN_START in files["kiosk/app.py"], "kiosk/app.py changed: update BROKEN_START"
        files["kiosk/app.py"] = files["kiosk/app.py"].replace(
            BROKEN_START, b'        raise RuntimeError("this release is broken on purpose")\n' + BROKEN_START)
    if slow_frame_s is not None:
        assert EACH_FRAME in files["kiosk/app.py"], "kiosk/app.py changed: update EACH_FRAME"
        files["kiosk/app.py"] = files["kiosk/app.py"].replace(
            EACH_FRAME, f"            self._stop.wait({slow_frame_s})  # this release is slow on purpose\n".encode()
            + EACH_FRAME)
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: face-attendance-kiosk\nVersion: {version}\n".encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tests.updatekit\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = b"[console_scripts]\nkiosk = kiosk.cli:main\n"
    record = "".join(f"{name},sha256={_b64(hashlib.sha256(data).digest())},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return wheel


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def unit_commands(root: Path, config_file: Path) -> tuple[list[str], list[str]]:
    """ExecStartPre and ExecStart of kiosk.service, with ``root`` for /opt/kiosk, this config and this Python."""
    lines = {k: v for k, _, v in (line.partition("=") for line in UNIT.read_text().splitlines())
             if k in ("ExecStartPre", "ExecStart")}

    def local(line: str) -> list[str]:
        line = line.replace("/opt/kiosk", str(root)).replace("/etc/kiosk/kiosk.yaml", str(config_file))
        return [sys.executable if arg == "/usr/bin/python3" else arg for arg in shlex.split(line)]

    return local(lines["ExecStartPre"]), local(lines["ExecStart"])


class KioskService:
    """kiosk.service under a stand-in for systemd: guard, start, and start again after each exit."""

    def __init__(self, root: Path, config_file: Path, log_file: Path, restart_s: float = 1.0) -> None:
        self.pre, self.start_cmd = unit_commands(root, config_file)
        self.log_file = log_file
        self.restart_s = restart_s
        self.starts = 0
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "KioskService":
        self._log = open(self.log_file, "a")
        self._thread = threading.Thread(target=self._run, name="kiosk-service", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            subprocess.run(self.pre, stdout=self._log, stderr=subprocess.STDOUT, timeout=60, check=False, cwd="/")
            self.starts += 1
            self._log.write(f"--- start {self.starts}: {' '.join(self.start_cmd)}\n")
            self._log.flush()
            try:
                self._proc = subprocess.Popen(self.start_cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd="/")
            except OSError as exc:  # systemd: the start failed; Restart=always tries again
                self._log.write(f"--- could not start: {exc}\n")
                self._log.flush()
                self._stop.wait(self.restart_s)
                continue
            if self._stop.is_set():  # stop() came while the guard ran: it did not see this process
                self._proc.send_signal(signal.SIGTERM)
            code = self._proc.wait()
            self._log.write(f"--- exited with {code}\n")
            self._log.flush()
            self._stop.wait(self.restart_s)

    def stop(self) -> None:
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self._thread is not None:
            self._thread.join(30)
            self._log.close()
