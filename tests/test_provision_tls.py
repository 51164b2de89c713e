"""End to end, TLS by default: the kiosk.yaml `provision device` writes, with no TLS option given,
connects to a Mosquitto that runs only what `provision broker` wrote (a TLS listener, no plaintext).

The operator's order from provisioning/README.md: ``provision broker --out broker`` (the CA),
``provision device --out bundles/K-A`` (takes broker/ca.crt), ``provision broker --devices-from
bundles`` (the login). First boot's install is played by rewriting the bundle's ``/etc/kiosk``
paths to the bundle folder; nothing else in the kiosk.yaml is touched.
"""

from pathlib import Path

import pytest

from devtools.mosquitto import MosquittoProcess, free_port
from kiosk.cli import main as kiosk_main
from kiosk.config import KioskConfig
from kiosk.link import MqttLink
from kiosk.outbox import Outbox
from protocol import topics
from protocol.settings import load_config
from provisioning import broker, bundle
from provisioning.cli import main
from tests.fake_hub_api import FakeHub
from tests.fleetkit import BROKER_NAME, Client

pytestmark = pytest.mark.broker

HUB = "https://hub.example.org"
WAIT_S = 30


def installed(bundle_dir: Path, state_dir: Path) -> Path:
    """The bundle's kiosk.yaml with the paths first boot would install to pointing into the bundle."""
    text = (bundle_dir / bundle.KIOSK_YAML).read_text()
    text = text.replace(str(bundle.PI_CONFIG_DIR), str(bundle_dir)).replace(str(bundle.PI_STATE_DIR), str(state_dir))
    path = bundle_dir.parent.parent / "installed-kiosk.yaml"
    path.write_text(text)
    return path


def test_a_kiosk_provisioned_without_tls_options_connects_over_tls_to_the_provisioned_broker(tmp_path, capsys):
    hub = FakeHub()
    (tmp_path / "token").write_text(hub.token)
    auth = ["--hub", HUB, "--token-file", str(tmp_path / "token")]
    port = free_port()
    broker_dir, bundles = tmp_path / "broker", tmp_path / "bundles"

    def provision(*argv: str) -> None:
        assert main([*argv, *auth], transport=hub.transport()) == 0, capsys.readouterr().err

    provision("broker", "--out", str(broker_dir), "--broker-host", BROKER_NAME, "--tls-port", str(port))
    provision("device", "--device-id", "K-A", "--site", "S1", "--out", str(bundles / "K-A"),
              "--mqtt-host", BROKER_NAME, "--mqtt-port", str(port))
    provision("broker", "--out", str(broker_dir), "--devices-from", str(bundles))
    mosquitto = MosquittoProcess(tmp_path / "mosquitto", port=port, plain_listener=False,
                                 extra_config=(broker_dir / broker.CONF_FILE).read_text())
    config_path = installed(bundles / "K-A", tmp_path / "state")
    config = load_config(config_path, KioskConfig)
    outbox = Outbox(config.state_dir / "outbox.sqlite")
    link = MqttLink(config, outbox, sw_version="test", gallery_version=lambda: 0)
    watcher = None
    mosquitto.start()
    try:
        link.start()
        assert link.connected.wait(WAIT_S), "the kiosk did not connect with its provisioned kiosk.yaml"
        watcher = Client(BROKER_NAME, port, "hub", (broker_dir / broker.HUB_PASSWORD_FILE).read_text().strip(),
                         "hub-watch", broker_dir / "ca.crt")
        assert watcher.connected, "the hub's login from provision broker, over TLS"
        watcher.subscribe(topics.device_topic("K-A", topics.STATUS))
        topic, payload = watcher.next()  # the kiosk's retained birth message, routed by the broker
        assert topic == topics.device_topic("K-A", topics.STATUS) and b'"online"' in payload
        capsys.readouterr()
        assert kiosk_main(["check-config", str(config_path)]) == 0
        assert f"mqtt: TLS to {BROKER_NAME}:{port}" in capsys.readouterr().out
    finally:
        if watcher is not None:
            watcher.close()
        link.stop()
        outbox.close()
        mosquitto.stop()
