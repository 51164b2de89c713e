"""Shared fixtures: a real Mosquitto per test, the shared face photos, PostgreSQL."""

import socket
from pathlib import Path

import pytest

from devtools.mosquitto import MosquittoProcess

REPO = Path(__file__).resolve().parents[1]
FACES_DIR = (REPO.parent / "shared" / "faces").resolve()


@pytest.fixture
def broker(tmp_path):
    """A fresh Mosquitto on a free port; tests may stop/kill/restart it."""
    proc = MosquittoProcess(tmp_path / "mosquitto")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """``../shared/faces``; tests that need real photos skip without it."""
    if not (FACES_DIR / "dev").is_dir():
        pytest.skip(f"real face photos not found at {FACES_DIR}/dev (../shared is absent)")
    return FACES_DIR


def postgres_answers(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
