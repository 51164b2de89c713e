"""Composition root: config -> engine -> API / ingest worker. The only place choosing real parts."""

import asyncio
import logging
import signal
import threading
import time
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
from protocol.sdnotify import SdNotifier, WatchdogPetter
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
    return make_engine(config.database_url, busy_timeout_ms=config.sqlite_busy_timeout_ms,
                       template_key_file=config.template_key_file)


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


STATS_EVERY_S = 60.0


def _stall_s(interval_s: float | None) -> float:
    """How long one batch may go without a step before the watchdog stops being petted: the
    whole ``WatchdogSec`` (twice the ping interval), so a slow but moving batch is never killed."""
    return 2 * interval_s if interval_s else float("inf")


def run_ingest(config: HubConfig, engine: Engine) -> None:
    """Run the ingest worker until SIGTERM/SIGINT; under systemd, READY=1 once subscribed and the
    watchdog petted while the worker makes progress (protocol/sdnotify.py)."""
    stop = threading.Event()
    stop_on_signals(stop)
    notifier = SdNotifier().start()
    watchdog = WatchdogPetter.from_env(notifier)
    tick_s = min(STATS_EVERY_S, watchdog.interval_s or STATS_EVERY_S)
    worker = build_worker(config, engine)
    worker.start()
    announced, last_stats = False, time.monotonic()
    try:
        while not stop.wait(tick_s if announced else min(tick_s, 0.5)):
            if not announced and worker.ready.is_set():
                notifier.ready()
                notifier.status("subscribed; ingesting")
                announced = True
            if worker.is_progressing(_stall_s(watchdog.interval_s)):
                watchdog.alive()
                watchdog.maybe_ping()
            if time.monotonic() - last_stats >= STATS_EVERY_S:
                log.info("ingest stats: %s", worker.stats)
                last_stats = time.monotonic()
    finally:
        notifier.stopping()
        worker.stop()
        notifier.close()


class _Server(uvicorn.Server):
    """uvicorn, saying READY=1 once it listens and petting the watchdog from its own event loop,
    so a blocked loop (or, in ``hub run``, a stuck ingest worker) stops the pings."""

    worker: IngestWorker | None = None

    async def startup(self, sockets=None) -> None:  # type: ignore[override]
        await super().startup(sockets)
        if self.started:
            log.info("hub API listening on %s://%s:%s", "https" if self.config.is_ssl else "http", self.config.host,
                     self.config.port)
            self._notifier = SdNotifier().start()
            self._notifier.ready()
            self._watchdog = WatchdogPetter.from_env(self._notifier)
            if self._watchdog.interval_s is not None:
                self._pets = asyncio.get_running_loop().create_task(self._pet_watchdog())

    async def _pet_watchdog(self) -> None:
        interval = self._watchdog.interval_s
        assert interval is not None
        while not self.should_exit:
            if self.worker is None or self.worker.is_progressing(_stall_s(interval)):
                self._watchdog.alive()
                self._watchdog.maybe_ping()
            await asyncio.sleep(min(interval / 2, 5.0))


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
    tls = {"ssl_certfile": str(config.api.tls_cert_file), "ssl_keyfile": str(config.api.tls_key_file)} \
        if config.api.tls_cert_file else {}
    server = _Server(uvicorn.Config(app, host=config.api.host, port=config.api.port, log_config=None,
                                    proxy_headers=False, **tls))
    server.worker = worker
    if worker is not None:
        worker.start()
    try:
        server.run()
    finally:
        if worker is not None:
            worker.stop()
