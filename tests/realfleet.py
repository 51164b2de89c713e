"""A real hub (API served by uvicorn, real ingest worker) and a real Mosquitto run from provisioning's files.

The order an IT team follows: ``provision broker`` (CA, server certificate,
options) against the served hub, then ``provision batch``/``replace``
(bundles, hub registration, broker logins), then Mosquitto started on the
generated ``att.conf`` alone. ``kiosk_from_boot_folder`` turns the ``kiosk/``
folder of a produced card into the config first boot would install, with
the paths of this machine, and runs the real kiosk link on it.
"""

import secrets
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select

from devtools.mosquitto import MosquittoProcess, free_port
from hub.api import create_app
from hub.config import HubConfig
from hub.db import Employee, PunchRecord, make_session_factory
from hub.devices import registry
from hub.ingest.worker import IngestWorker
from kiosk.config import KioskConfig
from kiosk.decision import PunchDecision
from kiosk.link import MqttLink
from kiosk.liveness import LivenessState
from kiosk.outbox import Outbox
from kiosk.punches import make_signed_punch
from protocol import signing
from provisioning import broker, bundle, tls
from provisioning.cli import main
from tests.browser import ServedApp
from tests.hub_db import sqlite_engine

BROKER_NAME = "localhost"  # the name in the broker's certificate, which clients check
EMPLOYEE = "E1"
WAIT_S = 30


class RealHub:
    """The hub API on SQLite, served over HTTP, with sites and one employee; the ingest worker on demand."""

    def __init__(self, tmp_path: Path, sites: tuple[str, ...] = ("S1", "S2")) -> None:
        self.tmp_path = tmp_path
        self.token_file = tmp_path / "admin.token"
        self.token_file.write_text(secrets.token_urlsafe(32) + "\n")
        self.engine = sqlite_engine(tmp_path)
        self.sessions = make_session_factory(self.engine)
        with self.sessions() as s:
            for site in sites:
                registry.add_site(s, site, f"Office {site}")
            s.add(Employee(employee_id=EMPLOYEE, name="E One", home_site_id=sites[0]))
            s.commit()
        self.base = {"database_url": self.engine.url.render_as_string(hide_password=False),
                     "admin_token_file": str(self.token_file), "auth": {"cookie_secure": False},
                     "enrolment": {"photo_dir": str(tmp_path / "photos")}}
        self.served = ServedApp(create_app(HubConfig.model_validate(self.base), self.engine)).start()
        self.worker: IngestWorker | None = None

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def auth(self) -> list[str]:
        return ["--hub", self.url, "--token-file", str(self.token_file)]

    def start_ingest(self, broker_dir: Path, port: int) -> None:
        config = HubConfig.model_validate({**self.base, "mqtt": {
            "host": BROKER_NAME, "port": port, "username": "hub", "client_id": "hub-ingest", "shared_group": "hub",
            "password_file": str(broker_dir / broker.HUB_PASSWORD_FILE), "ca_file": str(broker_dir / tls.CA_CERT)}})
        self.worker = IngestWorker(config, self.sessions)
        self.worker.start()
        assert self.worker.ready.wait(WAIT_S), "ingest worker did not subscribe"

    def punches(self) -> dict[str, str]:
        """Stored punch id -> the device it came from."""
        with self.sessions() as s:
            return dict(s.execute(select(PunchRecord.id, PunchRecord.device_id)).all())

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.served.stop()
        self.engine.dispose()


class RealBroker:
    """``provision broker`` output in ``tmp_path/broker`` and a Mosquitto running only that."""

    def __init__(self, tmp_path: Path, hub: RealHub) -> None:
        self.dir = tmp_path / "broker"
        self.port = free_port()
        assert main(["broker", "--out", str(self.dir), "--broker-host", BROKER_NAME, "--tls-port", str(self.port),
                     *hub.auth]) == 0
        self.mosquitto = MosquittoProcess(tmp_path / "mosquitto", port=self.port, plain_listener=False)

    def start(self) -> None:
        """(Re)start on the current files: the dynamic-security plugin reads them only at start."""
        self.mosquitto.stop()
        self.mosquitto.extra_config = (self.dir / broker.CONF_FILE).read_text()
        self.mosquitto.start()

    def close(self) -> None:
        self.mosquitto.stop()


class CardKiosk:
    """The real kiosk link and outbox on the config and credentials a card's first boot would install."""

    def __init__(self, boot_kiosk_dir: Path, state_dir: Path, port: int) -> None:
        installed = yaml.safe_load((boot_kiosk_dir / bundle.KIOSK_YAML).read_text())
        creds = boot_kiosk_dir / bundle.CREDENTIALS
        mqtt = installed["mqtt"] | {"host": BROKER_NAME, "port": port, "keepalive_s": 10, "reconnect_max_s": 1.0,
                                    "ack_timeout_s": 2.0,  # a punch sent while the hub reconnects is resent soon
                                    "password_file": str(creds / bundle.MQTT_PASSWORD),
                                    "ca_file": str(boot_kiosk_dir / bundle.CA_CERT)}
        self.config = KioskConfig.model_validate(installed | {
            "state_dir": str(state_dir), "signing_key_file": str(creds / bundle.DEVICE_KEY),
            "liveness": {"mode": "off"}, "mqtt": mqtt, "camera": {"kind": "replay"}})
        self.key = signing.load_private_key(self.config.signing_key_file)
        self.outbox = Outbox(state_dir / "outbox.sqlite")
        self.link = MqttLink(self.config, self.outbox, sw_version="test", gallery_version=lambda: 0)

    def start(self) -> "CardKiosk":
        self.link.start()
        assert self.link.connected.wait(WAIT_S), "the kiosk did not connect with its card's credentials"
        return self

    def punch(self) -> str:
        row = self.outbox.add(lambda seq: make_signed_punch(
            self.key, device_id=self.config.device_id, site_id=self.config.site_id,
            decision=PunchDecision(EMPLOYEE, 0.31, 0.2, LivenessState(True, 0.0, None, "off")),
            ts=datetime.now(ZoneInfo("Asia/Kolkata")), gallery_version=0, seq=seq))
        self.link.wake()
        return row.id

    def unacked(self) -> int:
        return self.outbox.depth()

    def close(self) -> None:
        self.link.stop()
        self.outbox.close()
