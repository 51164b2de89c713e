"""provision replace OLD NEW against a real hub and a real Mosquitto, with the dead kiosk's card.

The old kiosk's outbox is the real kiosk Outbox, copied while still open
(its rows are in the WAL, as after a power cut) onto the ext4 root of a
card laid out like Raspberry Pi OS's. One of its punches had reached the
hub already (the ack was lost). After ``replace``, the hub holds each old
punch once, under the old device with its original signature; the old
identity is refused by the hub (a retired device's punch is rejected) and,
after the broker restarts on the regenerated files, by the broker; the
new kiosk works at the old one's site.
"""

import json
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from kiosk.decision import PunchDecision
from kiosk.liveness import LivenessState
from kiosk.outbox import Outbox
from kiosk.punches import make_signed_punch
from protocol import signing, topics
from provisioning import broker
from provisioning.cli import main
from provisioning.replace import DELIVERED_FILE, UNACKED_FILE
from tests.fleetkit import Client
from tests.polling import wait_until
from tests.raspios_image import Layout, build_image, needs_image_tools, os_tree, read_boot
from tests.realfleet import BROKER_NAME, EMPLOYEE, WAIT_S, CardKiosk, RealBroker, RealHub

pytestmark = [needs_image_tools, pytest.mark.broker]


def signed(key, seq: int) -> tuple[str, bytes]:
    decision = PunchDecision(EMPLOYEE, 0.31, 0.2, LivenessState(True, 0.0, None, "off"))
    return make_signed_punch(key, device_id="K-OLD", site_id="S1", decision=decision,
                             ts=datetime.now(ZoneInfo("Asia/Kolkata")), gallery_version=0, seq=seq)


def login(brk: RealBroker, bundle: Path, device_id: str) -> Client:
    password = (bundle / "credentials/mqtt.password").read_text().strip()
    return Client(BROKER_NAME, brk.port, device_id, password, device_id, bundle / "ca.crt")


@pytest.fixture
def fleet(tmp_path):
    hub = RealHub(tmp_path)
    brk = RealBroker(tmp_path, hub)
    csv_path = tmp_path / "devices.csv"
    csv_path.write_text("device_id,site_id\nK-OLD,S1\nK-OTHER,S2\n")
    assert main(["batch", str(csv_path), "--out", str(tmp_path / "bundles"), "--mqtt-host", BROKER_NAME,
                 "--mqtt-port", str(brk.port), *hub.auth]) == 0
    brk.start()
    hub.start_ingest(brk.dir, brk.port)
    yield hub, brk
    brk.close()
    hub.close()


def dead_kiosk_card(tmp_path: Path, bundle: Path, brk: RealBroker, hub: RealHub) -> tuple[Path, list[str]]:
    """The old kiosk's card: three unacked punches in its outbox's WAL, the first of which the hub already has."""
    tree = os_tree(tmp_path / "old-root")
    state = tree / "var/lib/kiosk"
    outbox = Outbox(tmp_path / "old-state/outbox.sqlite")
    key = signing.load_private_key(bundle / "credentials/device.key")
    rows = [outbox.add(lambda seq: signed(key, seq)) for _ in range(3)]
    early = login(brk, bundle, "K-OLD")
    early.publish(topics.device_topic("K-OLD", topics.PUNCH), rows[0].payload)
    assert wait_until(lambda: rows[0].id in hub.punches(), WAIT_S), "the first punch reached the hub; its ack did not"
    early.close()
    state.mkdir(parents=True)
    for name in ("outbox.sqlite", "outbox.sqlite-wal", "outbox.seq"):  # as the power cut left them
        shutil.copyfile(tmp_path / "old-state" / name, state / name)
    assert (state / "outbox.sqlite-wal").stat().st_size > 0
    outbox.close()
    card = tmp_path / "old-card.img"
    build_image(card, tree, Layout(root_mib=8))
    return card, [r.id for r in rows]


def test_replace_delivers_the_old_punches_and_shuts_the_old_identity_out(tmp_path, fleet, capsys):
    hub, brk = fleet
    bundles = tmp_path / "bundles"
    card, ids = dead_kiosk_card(tmp_path, bundles / "K-OLD", brk, hub)
    argv = ["replace", "K-OLD", "K-NEW", "--out", str(bundles), "--mqtt-host", BROKER_NAME, *hub.auth]

    # The broker cannot be reached: nothing is retired, the punches read off the card are kept for the rerun.
    closed_port = str(brk.port + 1 if brk.port < 65535 else brk.port - 1)
    assert main([*argv, "--old-card", str(card), "--mqtt-port", closed_port, "--handover-timeout", "5"]) == 1
    assert "cannot reach the broker" in capsys.readouterr().err
    assert not _hub_device(hub, "K-OLD")["retired_at"]
    assert len((bundles / "K-OLD" / UNACKED_FILE).read_text().splitlines()) == 3

    base = tmp_path / "raspios-lite.img"
    layout = build_image(base, os_tree(tmp_path / "base-root"), Layout(root_mib=8))
    assert main([*argv, "--mqtt-port", str(brk.port), "--image", str(base)]) == 0  # the card is no longer needed
    out = capsys.readouterr().out
    new_key = (bundles / "K-NEW/credentials/device.key").read_bytes()
    assert read_boot(bundles / "K-NEW.img", layout, "kiosk/credentials/device.key") == new_key
    assert "K-NEW: already registered at site S1 (in place of K-OLD)" in out  # by the first run
    assert "old punches: 3 unacked, 3 stored at the hub (or already there), 0 refused" in out
    assert hub.punches() == {i: "K-OLD" for i in ids}  # each once, under the device that signed it
    assert not (bundles / "K-OLD" / UNACKED_FILE).exists()
    assert len((bundles / "K-OLD" / DELIVERED_FILE).read_text().splitlines()) == 3
    assert _hub_device(hub, "K-OLD")["retired_at"] and not _hub_device(hub, "K-NEW")["retired_at"]
    assert _hub_device(hub, "K-NEW")["site_id"] == "S1"
    assert json.loads((bundles / "K-OLD/provision.json").read_text())["retired_at"]
    logins = {c["username"] for c in json.loads((brk.dir / broker.DYNSEC_FILE).read_text())["clients"]}
    assert logins == {"K-NEW", "K-OTHER", "hub"}

    # The hub refuses the old identity (the broker still runs the old files until restarted).
    old = login(brk, bundles / "K-OLD", "K-OLD")
    old.subscribe(topics.device_topic("K-OLD", topics.ACK))
    punch_id, payload = signed(signing.load_private_key(bundles / "K-OLD/credentials/device.key"), 4)
    old.publish(topics.device_topic("K-OLD", topics.PUNCH), payload)
    ack = json.loads(old.next()[1])
    assert ack["rejected"] == [{"id": punch_id, "reason": "retired device"}] and punch_id not in hub.punches()
    old.close()

    brk.start()  # on the regenerated files: the old login is gone, the new kiosk works
    assert wait_until(hub.worker.ready.is_set, WAIT_S), "the hub's ingest is back on the restarted broker"
    refused = login(brk, bundles / "K-OLD", "K-OLD")
    assert refused.reason is not None and refused.reason.is_failure and not refused.connected
    kiosk = CardKiosk(bundles / "K-NEW", tmp_path / "new-state", brk.port).start()
    try:
        new_id = kiosk.punch()
        assert wait_until(lambda: kiosk.unacked() == 0 and hub.punches().get(new_id) == "K-NEW", WAIT_S), (
            kiosk.unacked(), hub.punches(), new_id, kiosk.outbox.rejected())
    finally:
        kiosk.close()

    assert main([*argv, "--mqtt-port", str(brk.port), "--old-card", str(card)]) == 0  # a rerun changes nothing
    assert "K-OLD: was already retired" in capsys.readouterr().out
    assert len(hub.punches()) == 4


def test_replace_refuses_an_unknown_old_device_and_a_card_without_root_and_takes_one_without_outbox(tmp_path, fleet, capsys):
    hub, brk = fleet
    bundles = tmp_path / "bundles"
    argv = ["replace", "K-GONE", "K-NEW", "--out", str(bundles), "--mqtt-port", str(brk.port), *hub.auth]
    assert main(argv) == 1
    assert "not a device bundle" in capsys.readouterr().err
    fat_only = tmp_path / "not-a-card.img"
    fat_only.write_bytes(bytes(510) + b"\x55\xaa" + bytes(4096))
    assert main(["replace", "K-OLD", "K-NEW", "--out", str(bundles), "--old-card", str(fat_only),
                 "--mqtt-port", str(brk.port), *hub.auth]) == 1
    assert "has no ext4 root partition" in capsys.readouterr().err
    assert not _hub_device(hub, "K-OLD")["retired_at"] and _hub_device(hub, "K-NEW") is None

    wiped = tmp_path / "reinstalled-card.img"  # a root file system, but no kiosk state on it
    build_image(wiped, os_tree(tmp_path / "fresh-root"), Layout(root_mib=8))
    assert main(["replace", "K-OLD", "K-NEW", "--out", str(bundles), "--old-card", str(wiped),
                 "--mqtt-host", BROKER_NAME, "--mqtt-port", str(brk.port), *hub.auth]) == 0
    out = capsys.readouterr().out
    assert "old card: no outbox at /var/lib/kiosk/outbox.sqlite on the card" in out
    assert "old punches: 0 unacked" in out and _hub_device(hub, "K-OLD")["retired_at"]


def _hub_device(hub: RealHub, device_id: str) -> dict | None:
    token = hub.token_file.read_text().strip()
    response = httpx.get(f"{hub.url}/api/v1/devices", headers={"Authorization": f"Bearer {token}"})
    body = response.json()
    items = body["items"] if isinstance(body, dict) else body
    return next((d for d in items if d["device_id"] == device_id), None)
