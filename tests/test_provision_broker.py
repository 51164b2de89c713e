"""provision broker / retire: generated logins, roles and listeners in a real Mosquitto.

Negative checks ("not delivered") never wait for a timeout: after the
forbidden message, a permitted one is sent on the same path, and once that
one has arrived the forbidden one would have arrived before it (Mosquitto
delivers one publisher's messages to a subscriber in order).
"""

import json
from pathlib import Path

import pytest

from protocol.topics import device_topic, subscription
from provisioning import broker, tls
from provisioning.errors import BrokerConfigError
from provisioning.cli import main
from tests.fleetkit import provision_fleet


# ---------- pure parts ----------


def test_each_device_role_names_only_its_own_topics_and_binds_its_client_id():
    doc = broker.dynsec_document({"K-1": broker.hash_password("pw", b"a" * 12), "hub": broker.hash_password(
        "hub-pw", b"b" * 12)}, "hub")
    assert doc["defaultACLAccess"] == {"publishClientSend": False, "publishClientReceive": False,
                                       "subscribe": False, "unsubscribe": True}
    clients = {c["username"]: c for c in doc["clients"]}
    assert clients["K-1"]["clientid"] == "K-1" and "clientid" not in clients["hub"]
    assert clients["K-1"]["iterations"] == 101 and clients["K-1"]["salt"] == "YWFhYWFhYWFhYWFh"
    roles = {r["rolename"]: [(a["acltype"], a["topic"]) for a in r["acls"]] for r in doc["roles"]}
    assert roles["device-K-1"] == [
        ("publishClientSend", "att/v1/dev/K-1/punch"),
        ("publishClientSend", "att/v1/dev/K-1/status"),
        ("publishClientSend", "att/v1/dev/K-1/health"),
        ("publishClientSend", "att/v1/dev/K-1/gallery/request"),
        ("publishClientSend", "att/v1/dev/K-1/gallery/applied"),
        ("publishClientSend", "att/v1/dev/K-1/gallery/key/request"),
        ("publishClientSend", "att/v1/dev/K-1/cmd/result"),
        ("subscribeLiteral", "att/v1/dev/K-1/ack"), ("publishClientReceive", "att/v1/dev/K-1/ack"),
        ("subscribeLiteral", "att/v1/dev/K-1/gallery/delta"), ("publishClientReceive", "att/v1/dev/K-1/gallery/delta"),
        ("subscribeLiteral", "att/v1/dev/K-1/gallery/key"), ("publishClientReceive", "att/v1/dev/K-1/gallery/key"),
        ("subscribeLiteral", "att/v1/dev/K-1/cmd"), ("publishClientReceive", "att/v1/dev/K-1/cmd"),
    ]
    assert ("subscribePattern", "$share/+/att/v1/dev/#") in roles["hub"]
    assert broker.parse_dynsec_document(json.dumps(doc)) == {
        "K-1": broker.hash_password("pw", b"a" * 12), "hub": broker.hash_password("hub-pw", b"b" * 12)}


def test_password_hash_format_and_verification():
    hashed = broker.hash_password("s3cret-pass", b"\x01" * 12, iterations=101)
    assert hashed.startswith("$7$101$AQEBAQEBAQEBAQEB$")
    assert broker.verify_password("s3cret-pass", hashed)
    assert not broker.verify_password("other", hashed)
    assert not broker.verify_password("s3cret-pass", "$7$junk")


def test_plan_keeps_unchanged_hashes_and_leaves_out_retired_and_unknown():
    existing = {"K-1": broker.hash_password("pw-1", b"a" * 12), "K-OLD": broker.hash_password("x", b"b" * 12)}
    plan = broker.plan_entries(
        bundle_passwords={"K-1": "pw-1", "K-2": "pw-2", "K-3": "pw-3"},
        retired={"K-3"},
        existing=existing,
        hub_active={"K-1", "K-2", "K-3"},
        hub_user="hub",
        hub_password="hub-pw",
    )
    assert plan.devices == ["K-1", "K-2"]
    assert plan.entries["K-1"] == existing["K-1"]  # a rerun does not rewrite it
    assert broker.verify_password("pw-2", plan.entries["K-2"])
    assert broker.verify_password("hub-pw", plan.entries["hub"])
    assert dict(plan.left_out) == {"K-3": "retired", "K-OLD": "not an active device at the hub"}


def test_device_ids_that_look_like_hub_client_ids_are_left_out():
    """The hub's connections (hub-ingest, hub-ingest-out, hub-ingest-1...) may use any client id,
    so no device may be bound to one of them."""
    plan = broker.plan_entries(bundle_passwords={"hub-ingest": "pw-1", "K-1": "pw-2"}, retired=(), existing={},
                               hub_active=None, hub_user="hub", hub_password="hub-pw")
    assert plan.devices == ["K-1"]
    assert plan.left_out == [("hub-ingest", "reserved for the hub's client ids (hub-...)")]


def test_hashes_use_mosquittos_iteration_count_and_older_ones_are_renewed():
    """Every login costs the broker the hash's iterations; random 192-bit passwords gain nothing
    from more than Mosquitto's own 101, so a rerun renews hashes made with another count."""
    assert broker.hash_iterations(broker.hash_password("pw", b"c" * 12)) == broker.PBKDF2_ITERATIONS == 101
    older = broker.hash_password("pw-1", b"a" * 12, iterations=1000)
    plan = broker.plan_entries(bundle_passwords={"K-1": "pw-1"}, retired=(), existing={"K-1": older},
                               hub_active=None, hub_user="hub", hub_password="hub-pw")
    assert plan.entries["K-1"] != older
    assert broker.hash_iterations(plan.entries["K-1"]) == 101
    assert broker.verify_password("pw-1", plan.entries["K-1"])
    assert broker.hash_iterations("$6$salt$hash") is None


# ---------- against a real Mosquitto ----------


@pytest.fixture
def fleet(tmp_path):
    """Three devices; the broker on the generated plaintext (loopback) listener only."""
    fleet = provision_fleet(tmp_path, ["K-A", "K-B", "K-C"], use_tls=False)
    yield fleet
    fleet.close()


@pytest.mark.broker
def test_generated_acl_confines_each_device_to_its_own_topics(fleet):
    connect = fleet.connect
    hub, a, b = connect("hub"), connect("K-A"), connect("K-B")
    assert hub.connected and a.connected and b.connected
    hub.subscribe(subscription("punch", shared_group="hub"), subscription("status"))

    # A publishes its punch; the hub (on a shared subscription) receives it.
    a.publish(device_topic("K-A", "punch"), b"a-1")
    assert hub.next() == (device_topic("K-A", "punch"), b"a-1")

    # A publishing into B's punch topic is dropped; A's next punch arrives first.
    a.publish(device_topic("K-B", "punch"), b"forged")
    a.publish(device_topic("K-B", "status"), b"forged")
    a.publish(device_topic("K-A", "punch"), b"a-2")
    assert hub.next() == (device_topic("K-A", "punch"), b"a-2")

    # A may not subscribe to B's gallery or commands, nor to a wildcard; B can, so the hub's messages
    # did go out.
    granted = a.subscribe(device_topic("K-B", "gallery/delta"), device_topic("K-B", "cmd"),
                          device_topic("K-A", "cmd"), "att/v1/dev/+/ack")
    assert [code.is_failure for code in granted] == [True, True, False, True]
    b.subscribe(device_topic("K-B", "gallery/delta"), device_topic("K-B", "cmd"))
    hub.publish(device_topic("K-B", "gallery/delta"), b"b-gallery")
    hub.publish(device_topic("K-B", "cmd"), b"b-cmd")
    hub.publish(device_topic("K-B", "ack"), b"b-ack")
    hub.publish(device_topic("K-A", "cmd"), b"a-cmd")
    assert b.next() == (device_topic("K-B", "gallery/delta"), b"b-gallery")
    assert b.next() == (device_topic("K-B", "cmd"), b"b-cmd")
    assert a.next() == (device_topic("K-A", "cmd"), b"a-cmd")
    assert a.messages.empty(), list(a.messages.queue)

    # A cannot even read its own punch topic (only the hub reads punches); its own ack it can.
    assert [code.is_failure for code in a.subscribe(device_topic("K-A", "punch"), device_topic("K-A", "ack"))] == [
        True, False]
    a.publish(device_topic("K-A", "punch"), b"a-3")
    hub.publish(device_topic("K-A", "ack"), b"a-ack")
    assert a.next() == (device_topic("K-A", "ack"), b"a-ack")
    assert a.messages.empty(), list(a.messages.queue)


@pytest.mark.broker
def test_wrong_unknown_and_anonymous_logins_are_refused(fleet):
    connect = fleet.connect
    for user, password in (("K-A", "wrong-password-123"), ("K-Z", "whatever-password"), ("", None)):
        client = connect(user, password or "", client_id=user or "anon")
        assert not client.connected, user
        assert client.reason.is_failure


@pytest.mark.broker
def test_retired_device_cannot_connect_after_regeneration(fleet, capsys):
    connect, out = fleet.connect, fleet.out
    assert connect("K-C").connected
    rc = main(["retire", "K-C", "--broker-dir", str(out), "--devices-from", str(fleet.bundles), *fleet.auth],
              transport=fleet.hub.transport())
    assert rc == 0, capsys.readouterr().err
    assert "left out K-C: retired" in capsys.readouterr().out
    assert fleet.hub.devices["K-C"]["retired_at"]
    assert "K-C" not in broker.parse_dynsec_document((out / broker.DYNSEC_FILE).read_text())

    fleet.mosquitto.restart()
    assert not connect("K-C").connected
    assert connect("K-A").connected

    # Regenerating later (from bundles and the hub) keeps K-C out.
    assert main(["broker", "--devices-from", str(fleet.bundles), "--out", str(out), *fleet.auth],
                transport=fleet.hub.transport()) == 0
    assert "K-C" not in broker.parse_dynsec_document((out / broker.DYNSEC_FILE).read_text())


def test_broker_files_modes_and_stable_rerun(fleet):
    out = fleet.out
    for secret in (broker.DYNSEC_FILE, broker.HUB_PASSWORD_FILE, tls.CA_KEY, tls.SERVER_KEY):
        assert (out / secret).stat().st_mode & 0o777 == 0o600, secret
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert fleet.broker() == 0  # no listener options: the saved ones are kept
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    conf = (out / broker.CONF_FILE).read_text()
    where = Path(out).absolute()
    for line in ("allow_anonymous false", "plugin mosquitto_dynamic_security.so",
                 f"plugin_opt_config_file {where / broker.DYNSEC_FILE}", f"certfile {where / tls.SERVER_CERT}",
                 f"listener {fleet.mosquitto.port} 127.0.0.1"):
        assert line in conf.splitlines(), line
    assert "require_certificate true" not in conf

    assert fleet.broker("--plaintext-port", "0", "--install-dir", "/etc/mosquitto/att") == 0
    assert fleet.broker() == 0  # ... both kept by the next run
    conf = (out / broker.CONF_FILE).read_text()
    assert "127.0.0.1" not in conf and "plugin_opt_config_file /etc/mosquitto/att/dynamic-security.json" in conf


def test_server_certificate_is_reissued_only_when_its_names_change(tmp_path):
    ca = tls.ensure_ca(tmp_path)
    assert tls.ensure_server_cert(tmp_path, ca, ["broker.lan", "10.0.0.5"])
    key, cert = (tmp_path / tls.SERVER_KEY).read_bytes(), (tmp_path / tls.SERVER_CERT).read_bytes()
    assert not tls.ensure_server_cert(tmp_path, ca, ["10.0.0.5", "broker.lan"])
    assert (tmp_path / tls.SERVER_CERT).read_bytes() == cert
    assert tls.ensure_server_cert(tmp_path, ca, ["broker.lan"])
    assert (tmp_path / tls.SERVER_KEY).read_bytes() == key and (tmp_path / tls.SERVER_CERT).read_bytes() != cert
    assert tls.ensure_ca(tmp_path).cert == ca.cert  # the CA is made once
    with pytest.raises(BrokerConfigError):
        tls.host_name("bad host")
    (tmp_path / tls.CA_CERT).unlink()
    with pytest.raises(BrokerConfigError, match="restore the other"):  # never a silent new CA
        tls.ensure_ca(tmp_path)
