"""Composition root: config -> engine -> API / ingest worker. The only place choosing real parts."""

import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from hub.api import create_app
from hub.config import HubConfig
from hub.db import make_engine, make_session_factory
from hub.ingest.worker import IngestWorker
from protocol.settings import load_config

if TYPE_CHECKING:
    from biometrics.encoder import FaceEncoder

log = logging.getLogger(__name__)


ENV_PREFIX = "HUB"  # HUB__MQTT__PORT=8883 overrides mqtt.port (protocol/settings.py)


def load(path: Path | str) -> HubConfig:
    """Read and validate a hub config file; raises protocol.settings.ConfigError."""
    return load_config(path, HubConfig, env_prefix=ENV_PREFIX)


def open_engine(config: HubConfig, *, create_dirs: bool = False) -> Engine:
    """The database engine; ``create_dirs`` makes a SQLite file's folder (for ``init-db``)."""
    url = make_url(config.database_url)
    if create_dirs and url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return make_engine(config.database_url, busy_timeout_ms=config.sqlite_busy_timeout_ms)


def build_worker(config: HubConfig, engine: Engine) -> IngestWorker:
    return IngestWorker(config, make_session_factory(engine))


def build_api(config: HubConfig, engine: Engine) -> FastAPI:
    return create_app(config, engine)


def build_encoder() -> "FaceEncoder":
    from biometrics.encoder import (
        FaceEncoder,  # dlib is imported only by the commands that enrol
    )

    return FaceEncoder()


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM (systemd) and SIGINT (Ctrl-C) set ``stop``."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


def run_ingest(config: HubConfig, engine: Engine) -> None:
    """Run the ingest worker until SIGTERM/SIGINT."""
    stop = threading.Event()
    stop_on_signals(stop)
    worker = build_worker(config, engine)
    worker.start()
    try:
        while not stop.wait(60):
            log.info("ingest stats: %s", worker.stats)
    finally:
        worker.stop()


class _Server(uvicorn.Server):
    async def startup(self, sockets=None) -> None:  # type: ignore[override]
        await super().startup(sockets)
        if self.started:
            log.info("hub API listening on http://%s:%s", self.config.host, self.config.port)


def run_api(config: HubConfig, engine: Engine, *, with_ingest: bool) -> None:
    """Serve the API until SIGTERM/SIGINT; with ``with_ingest`` also run the ingest worker (office/demo mode).

    uvicorn restores our signal handlers when it returns and re-raises the
    signal it caught, which then just sets ``stop``; the worker is stopped
    after the API, so no punch is half-handled at exit.
    """
    app = build_api(config, engine)
    stop = threading.Event()
    stop_on_signals(stop)
    worker = build_worker(config, engine) if with_ingest else None
    # proxy headers are judged by hub.api.proxies against security.trusted_proxies, not by uvicorn
    server = _Server(uvicorn.Config(app, host=config.api.host, port=config.api.port, log_config=None,
                                    proxy_headers=False))
    if worker is not None:
        worker.start()
    try:
        server.run()
    finally:
        if worker is not None:
            worker.stop()
