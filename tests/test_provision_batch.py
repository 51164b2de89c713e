"""provision batch --image: 20 rows (2 bad) to registered identities, broker logins and card images.

Against a real hub (API served over HTTP, real ingest worker) and a real
Mosquitto started only on the files the batch regenerated; the base image
is laid out like Raspberry Pi OS's (tests/raspios_image.py). One card's
boot partition is then read back as the Pi would see it and the real kiosk
link runs on its config and credentials: that card's device logs in and
its punch is stored and acked.
"""

import hashlib
import io
import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from provisioning import broker
from provisioning.cards import CHECKSUMS, MANIFEST
from provisioning.cli import main
from provisioning.progress import Progress, bar
from tests.polling import wait_until
from tests.raspios_image import Layout, build_image, copy_boot_folder, needs_image_tools, os_tree, read_boot, sh
from tests.realfleet import WAIT_S, CardKiosk, RealBroker, RealHub

pytestmark = [needs_image_tools, pytest.mark.broker]

GOOD = [f"K-{n:04d}" for n in range(1, 19)]


def devices_csv(path: Path, good: list[str] = GOOD, bad_fixed: bool = False, gate_3: str = "") -> Path:
    """``good`` rows (every third at S2), and two bad ones (or, ``bad_fixed``, fixed) among them."""
    rows = [f"{d},{'S2' if n % 3 == 2 else 'S1'},{gate_3 if d == 'K-0003' else ''}" for n, d in enumerate(good)]
    rows.insert(min(5, len(rows)), "K-0019,S1," if bad_fixed else "K 0019,S1,")  # a space: not a device id
    rows.insert(min(12, len(rows)), "K-0020,S2," if bad_fixed else "K-0020,NOWHERE,")  # a site the hub lacks
    path.write_text("device_id,site_id,hostname\n" + "\n".join(rows) + "\n")
    return path


def digest_outside(path: Path, start: int, length: int) -> str:
    """SHA-256 of the image without the bytes [start, start + length): what must not change."""
    data = path.read_bytes()
    return hashlib.sha256(data[:start] + data[start + length:]).hexdigest()


def card_batch_env(tmp_path: Path):
    """A fake hub with its token file, a broker CA and a small Raspberry Pi OS-like base image in ``tmp_path``.

    Returns the hub, the base image, its layout, and the hub arguments of a ``provision batch``.
    """
    from provisioning import tls
    from tests.fake_hub_api import FakeHub

    hub = FakeHub(sites=("S1",))
    (tmp_path / "token").write_text(hub.token)
    (tmp_path / "broker").mkdir()
    tls.ensure_ca(tmp_path / "broker")
    base = tmp_path / "raspios-lite.img"
    layout = build_image(base, os_tree(tmp_path / "tree"), Layout(root_mib=8))
    return hub, base, layout, ["--hub", "https://hub.example.org", "--token-file", str(tmp_path / "token")]


@pytest.fixture
def fleet(tmp_path):
    hub = RealHub(tmp_path)
    brk = RealBroker(tmp_path, hub)
    yield hub, brk
    brk.close()
    hub.close()


def test_batch_makes_every_card_and_a_card_boots_into_the_fleet(tmp_path, fleet, capsys):
    hub, brk = fleet
    base = tmp_path / "raspios-lite.img"
    layout = build_image(base, os_tree(tmp_path / "tree"), Layout(root_mib=12))
    base_sha = hashlib.sha256(base.read_bytes()).hexdigest()
    outside = digest_outside(base, layout.boot_offset, layout.boot_mib * 1024 * 1024)
    wifi = tmp_path / "wifi.txt"
    wifi.write_text("correct horse battery staple\n")
    cards = tmp_path / "cards"
    argv = ["batch", str(devices_csv(tmp_path / "sites.csv")), "--image", str(base), "--out", str(cards),
            "--mqtt-host", "broker.example.org", "--wifi-ssid", "Office", "--wifi-password-file", str(wifi), *hub.auth]

    assert main(argv) == 1  # two rows failed, the other 18 are done
    out = capsys.readouterr().out
    assert "created: 18, already registered: 0, failed: 2" in out and "cards: 18 written, 0 unchanged" in out
    assert "line 7 (K 0019): failed: invalid device id" in out
    assert "line 14 (K-0020): failed: the hub does not know site 'NOWHERE'" in out
    assert "[20/20] line 21 (K-0018): created, card K-0018.img written" in out  # rows after the bad ones ran
    assert hashlib.sha256(base.read_bytes()).hexdigest() == base_sha  # the base is only read

    sums = dict(line.split("  ")[::-1] for line in (cards / CHECKSUMS).read_text().splitlines())
    assert sorted(sums) == [f"{d}.img" for d in GOOD]
    table = out[out.index("device "):]
    for device_id in GOOD:
        card = cards / f"{device_id}.img"
        assert stat.S_IMODE(card.stat().st_mode) == 0o600  # it holds the device's private key
        assert card.stat().st_size == base.stat().st_size
        assert hashlib.sha256(card.read_bytes()).hexdigest() == sums[card.name]
        assert f"{card.name}  {sums[card.name]}" in table
        assert digest_outside(card, layout.boot_offset, layout.boot_mib * 1024 * 1024) == outside  # root untouched
        bundle = cards / device_id
        assert read_boot(card, layout, "kiosk/credentials/device.key") == (bundle / "credentials/device.key").read_bytes()
        assert yaml.safe_load(read_boot(card, layout, "kiosk/kiosk.yaml"))["device_id"] == device_id
        assert yaml.safe_load(read_boot(card, layout, "user-data"))["hostname"] == f"kiosk-{device_id.lower()}"
    one = cards / "K-0001.img"
    assert one.stat().st_blocks * 512 < one.stat().st_size / 2  # copied sparse: holes stay holes
    boot = tmp_path / "boot.bin"
    with one.open("rb") as f:
        f.seek(layout.boot_offset)
        boot.write_bytes(f.read(layout.boot_mib * 1024 * 1024))
    sh("fsck.vfat", "-n", str(boot))

    hub_devices = {d["device_id"]: d for d in _hub_devices(hub)}
    assert sorted(hub_devices) == GOOD
    for device_id in GOOD:
        public_key = json.loads((cards / device_id / "provision.json").read_text())["public_key"]
        assert hub_devices[device_id]["public_key"] == public_key
    logins = {c["username"] for c in json.loads((brk.dir / broker.DYNSEC_FILE).read_text())["clients"]}
    assert logins == {*GOOD, "hub"}

    # First boot of one card: its boot partition's kiosk/ folder, as the Pi mounts it, against the real fleet.
    brk.start()
    hub.start_ingest(brk.dir, brk.port)
    kiosk_dir = copy_boot_folder(one, layout, "kiosk", tmp_path / "pi-boot")
    kiosk = CardKiosk(kiosk_dir, tmp_path / "pi-state", brk.port).start()
    try:
        punch_id = kiosk.punch()
        assert wait_until(lambda: kiosk.unacked() == 0 and punch_id in hub.punches(), WAIT_S), "punch stored, acked"
        assert hub.punches()[punch_id] == "K-0001"
    finally:
        kiosk.close()


def test_rerun_rebuilds_only_changed_and_fixed_rows(tmp_path, fleet, capsys):
    hub, _brk = fleet
    base = tmp_path / "raspios-lite.img"
    build_image(base, os_tree(tmp_path / "tree"), Layout(root_mib=8))
    cards = tmp_path / "cards"
    good = GOOD[:6]
    argv = ["batch", "--image", str(base), "--out", str(cards), *hub.auth]
    assert main([*argv[:1], str(devices_csv(tmp_path / "a.csv", good)), *argv[1:]]) == 1
    capsys.readouterr()
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in cards.glob("*.img")}
    keys = {d: (cards / d / "credentials/device.key").read_bytes() for d in good}

    assert main([*argv[:1], str(devices_csv(tmp_path / "a.csv", good)), *argv[1:]]) == 1  # nothing changed
    out = capsys.readouterr().out
    assert "created: 0, already registered: 6, failed: 2" in out and "cards: 0 written, 6 unchanged" in out
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in cards.glob("*.img")} == before

    fixed = devices_csv(tmp_path / "b.csv", good, bad_fixed=True, gate_3="gate-3")
    assert main([*argv[:1], str(fixed), *argv[1:]]) == 0
    out = capsys.readouterr().out
    assert "created: 2, already registered: 6, failed: 0" in out and "cards: 3 written, 5 unchanged" in out
    assert "K-0003): already registered, card K-0003.img written" in out  # its host name changed
    after = {p.name: p.stat().st_mtime_ns for p in cards.glob("*.img")}
    assert sorted(n for n in after if before.get(n, (None,))[0] != after[n]) == ["K-0003.img", "K-0019.img",
                                                                               "K-0020.img"]
    assert keys == {d: (cards / d / "credentials/device.key").read_bytes() for d in good}  # identities kept
    assert len((cards / CHECKSUMS).read_text().splitlines()) == 8

    os.truncate(cards / "K-0005.img", 4096)  # a card file damaged since: rebuilt, not trusted
    assert main([*argv[:1], str(fixed), *argv[1:]]) == 0
    assert "cards: 1 written, 7 unchanged" in capsys.readouterr().out
    assert json.loads((cards / MANIFEST).read_text())["cards"]["K-0005"]["size"] == base.stat().st_size


def test_a_broken_base_image_is_refused_before_any_row(tmp_path, fleet, capsys):
    hub, _brk = fleet
    not_an_image = tmp_path / "raspios.img.xz"
    not_an_image.write_bytes(b"\xfd7zXZ\x00" + bytes(1000))
    assert main(["batch", str(devices_csv(tmp_path / "a.csv")), "--image", str(not_an_image),
                 "--out", str(tmp_path / "cards"), *hub.auth]) == 1
    assert "compressed with xz" in capsys.readouterr().err
    assert _hub_devices(hub) == []


def test_progress_bar_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert bar(0, 20, "K-1") == f"[{'.' * 30}]  0/20 K-1"
    assert bar(20, 20) == f"[{'#' * 30}] 20/20"
    lines, tty, pipe = io.StringIO(), Tty(), io.StringIO()
    for stream in (tty, pipe):
        progress = Progress(2, out=lines, bar_stream=stream)
        progress.line("[1/2] K-1: created")
        progress.advance("K-1")
        progress.finish()
    assert bar(1, 2, "K-1") in tty.getvalue() and "\r" in tty.getvalue()
    assert pipe.getvalue() == ""
    assert lines.getvalue().count("[1/2] K-1: created\n") == 2


def _hub_devices(hub: RealHub) -> list[dict]:
    import httpx

    token = hub.token_file.read_text().strip()
    response = httpx.get(f"{hub.url}/api/v1/devices", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body = response.json()
    return body["items"] if isinstance(body, dict) else body


def test_sparse_copy_keeps_every_byte_and_copies_only_the_data(tmp_path):
    from provisioning.cardfile import copy_sparse, sha256_file

    mib = 1024 * 1024
    source = tmp_path / "base.img"
    with source.open("wb") as f:
        f.write(os.urandom(mib))
        f.seek(9 * mib)
        f.write(os.urandom(mib))
        f.truncate(16 * mib)  # a hole between the two runs and one at the end
    target = tmp_path / "card.img"
    target.write_bytes(b"old card contents" * 100_000)  # replaced, not merged
    assert copy_sparse(source, target) == 2 * mib
    assert target.read_bytes() == source.read_bytes()
    assert sha256_file(target) == hashlib.sha256(source.read_bytes()).hexdigest()
    assert target.stat().st_blocks * 512 < 4 * mib


def test_cards_written_straight_to_a_card_reader_and_read_back(tmp_path, monkeypatch, capsys):
    """A file stands in for the reader's device: a used card, larger than the image, with old data in it."""
    hub, base, layout, hub_args = card_batch_env(tmp_path)
    size, mib = base.stat().st_size, 1024 * 1024
    reader = tmp_path / "sdb"
    with reader.open("wb") as f:
        f.truncate(size + mib)
        for offset in (layout.boot_offset + 20 * mib, layout.root_offset + 6 * mib, size):
            f.seek(offset)
            f.write(os.urandom(mib))  # where the base has holes: the card must read zeros there afterwards
    csv_path = tmp_path / "sites.csv"
    csv_path.write_text("device_id,site_id\nK-1,S1\nK-2,S1\nK-3,S1\n")
    cards = tmp_path / "cards"
    argv = ["batch", str(csv_path), "--image", str(base), "--card-reader", str(reader), "--out", str(cards), *hub_args]
    asked: list[str] = []
    answers = iter(["", "s", ""])
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or next(answers))

    assert main(argv, transport=hub.transport()) == 1  # K-2 was skipped
    out = capsys.readouterr().out
    assert [[d for d in ("K-1", "K-2", "K-3") if d in prompt] for prompt in asked] == [["K-1"], ["K-2"], ["K-3"]]
    assert "(K-2): failed: created at the hub, but its card failed: no card written: skipped" in out
    written = reader.read_bytes()[:size]
    fat = slice(layout.boot_offset, layout.boot_offset + layout.boot_mib * mib)
    base_bytes = base.read_bytes()
    assert written[:fat.start] + written[fat.stop:] == base_bytes[:fat.start] + base_bytes[fat.stop:]
    assert read_boot(reader, layout, "kiosk/credentials/device.key") == (cards / "K-3/credentials/device.key"
                                                                          ).read_bytes()
    assert f"K-3     S1    created  sdb   {hashlib.sha256(written).hexdigest()}" in out
    assert not list(cards.glob("*.img")) and (cards / CHECKSUMS).read_text() == ""

    asked.clear()
    answers = iter([""])
    assert main(argv, transport=hub.transport()) == 0  # only the skipped card is asked for again
    assert len(asked) == 1 and "K-2" in asked[0]
    assert read_boot(reader, layout, "kiosk/credentials/device.key") == (cards / "K-2/credentials/device.key"
                                                                          ).read_bytes()


def test_a_mounted_or_too_small_card_reader_is_refused(tmp_path):
    from provisioning.cardreader import check_writable_target
    from provisioning.errors import ImageError

    base, card = tmp_path / "base.img", tmp_path / "sdb"
    base.write_bytes(bytes(4096))
    card.write_bytes(bytes(8192))
    mounts = tmp_path / "mounts"
    mounts.write_text(f"{card}1 /media/bootfs vfat rw 0 0\n")
    with pytest.raises(ImageError, match="is mounted"):
        check_writable_target(card, base, mounts)
    mounts.write_text("/dev/sda1 / ext4 rw 0 0\n")
    check_writable_target(card, base, mounts)
    with pytest.raises(ImageError, match="the base image itself"):
        check_writable_target(base, base, mounts)
    card.write_bytes(bytes(1024))
    with pytest.raises(ImageError, match="has 1024 bytes"):
        check_writable_target(card, base, mounts)
