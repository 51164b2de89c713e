"""The encrypted on-device gallery cache: round trip, tampering, wrong key, key source, crash safety."""

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from biometrics.matcher import Gallery, MatchThresholds, match
from hub.enrolment.gallery_keys import seal
from kiosk.gallery import GalleryCache
from kiosk.gallery_key import (
    CardGalleryKey,
    GalleryKeyError,
    GalleryLocked,
    HubGalleryKey,
    derive_card_key,
)
from kiosk.gallery_store import EncryptedGalleryStore, GalleryStoreError, encode_payload
from protocol import messages, signing

REPO = Path(__file__).resolve().parents[1]
SITE = "site-dehradun-collectorate"


def make_key(path: Path) -> Path:
    """A device key file as provisioning makes it: an Ed25519 private key in PEM."""
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def hub_key(device_id: str = "kiosk-1") -> HubGalleryKey:
    """A kiosk's hub key source, unlocked the way the hub answers: a random key sealed to its box key."""
    source = HubGalleryKey(device_id, signing.generate_private_key())
    box_key = messages.parse(messages.GalleryKeyRequest, source.request()).box_key
    assert source.accept(messages.GalleryKey(box_key=box_key, sealed=seal(os.urandom(32), box_key)))
    return source


def make_people(n: int, per_person: int = 3, seed: int = 0) -> dict:
    """Random unit vectors stand in for templates: this tests storage, not recognition."""
    rng = np.random.default_rng(seed)
    people = {}
    for i in range(n):
        t = rng.standard_normal((per_person, 128)).astype(np.float32)
        t /= np.linalg.norm(t, axis=1, keepdims=True)
        people[f"UK{100000 + i}"] = (f"कर्मचारी {i} / Employee {i}", list(t))
    return people


def assert_same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key][0] == b[key][0]
        assert len(a[key][1]) == len(b[key][1])
        for x, y in zip(a[key][1], b[key][1]):
            assert np.array_equal(np.asarray(x, np.float32), y)


@pytest.fixture(params=["hub", "card"])
def store(request, tmp_path) -> EncryptedGalleryStore:
    """The store under each key source: the hub's key (the default) and the card-derived one."""
    source = hub_key() if request.param == "hub" else CardGalleryKey(make_key(tmp_path / "device.key"))
    return EncryptedGalleryStore(tmp_path / "gallery.bin", source)


def test_no_file_is_no_gallery(store):
    assert store.load() is None


def test_round_trip_keeps_ids_names_order_and_exact_templates(store):
    people = make_people(50)
    people["E-empty"] = ("Nobody Enrolled Yet", [])
    people["E-one"] = ("One Template", [np.linspace(-1, 1, 128)])  # float64 in: stored as float32
    store.save(42, SITE, people)
    version, site_id, loaded = store.load()
    assert (version, site_id) == (42, SITE)
    assert_same(people, loaded)
    assert all(t.dtype == np.float32 and t.shape == (128,) for _, ts in loaded.values() for t in ts)


def test_a_loaded_gallery_matches_like_the_original(store):
    people = make_people(200)
    store.save(1, SITE, people)
    _, _, loaded = store.load()
    original = Gallery({k: v[1] for k, v in people.items()})
    reloaded = Gallery({k: v[1] for k, v in loaded.items()})
    probe = np.mean(people["UK100007"][1], axis=0) + 0.01  # near the person's mean template, as the gallery scores
    assert match(reloaded, probe, MatchThresholds()) == match(original, probe, MatchThresholds())
    assert match(reloaded, probe, MatchThresholds()).employee_id == "UK100007"


def test_an_empty_gallery_round_trips(store):
    store.save(0, SITE, {})
    assert store.load() == (0, SITE, {})


def test_each_save_uses_a_fresh_nonce(store):
    people = make_people(3)
    store.save(5, SITE, people)
    first = store.path.read_bytes()
    store.save(5, SITE, people)
    assert store.path.read_bytes() != first


@pytest.mark.parametrize("where", ["header", "nonce", "ciphertext", "tag"])
def test_one_changed_byte_anywhere_is_refused(store, where):
    store.save(7, SITE, make_people(20))
    blob = bytearray(store.path.read_bytes())
    header_len = 8 + 2 + 1 + 8 + 2 + len(SITE)
    offset = {"header": 12, "nonce": header_len + 3, "ciphertext": header_len + 12 + 100, "tag": len(blob) - 1}[where]
    blob[offset] ^= 0x01
    store.path.write_bytes(bytes(blob))
    with pytest.raises(GalleryStoreError):
        store.load()


def test_a_changed_version_in_the_header_is_refused_not_believed(store):
    store.save(7, SITE, make_people(5))
    blob = bytearray(store.path.read_bytes())
    blob[11:19] = (8).to_bytes(8, "little")  # claim a newer version to skip a sync
    store.path.write_bytes(bytes(blob))
    with pytest.raises(GalleryStoreError, match="failed authentication"):
        store.load()


def test_a_truncated_or_foreign_file_is_refused(store):
    store.save(7, SITE, make_people(5))
    blob = store.path.read_bytes()
    store.path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(GalleryStoreError):
        store.load()
    store.path.write_bytes(b"PK\x03\x04 a zip file, not ours")
    with pytest.raises(GalleryStoreError, match="not a gallery cache"):
        store.load()
    assert issubclass(GalleryStoreError, ValueError)


def test_another_device_key_cannot_read_it(store, tmp_path):
    store.save(3, SITE, make_people(5))
    if isinstance(store.key_source, CardGalleryKey):
        other = EncryptedGalleryStore(store.path, CardGalleryKey(make_key(tmp_path / "other.key")))
    else:
        other = EncryptedGalleryStore(store.path, hub_key("kiosk-2"))
    with pytest.raises(GalleryStoreError, match="written with another key"):
        other.load()


def test_a_missing_or_empty_key_file_is_a_clear_error(tmp_path):
    with pytest.raises(GalleryKeyError, match="cannot read the gallery key file"):
        EncryptedGalleryStore(tmp_path / "g.bin", CardGalleryKey(tmp_path / "absent.key")).save(1, SITE, {})
    (tmp_path / "empty.key").write_text("\n")
    with pytest.raises(GalleryKeyError, match="not a device secret"):
        EncryptedGalleryStore(tmp_path / "g.bin", CardGalleryKey(tmp_path / "empty.key")).save(1, SITE, {})
    assert not (tmp_path / "g.bin").exists()


def test_before_the_hub_sent_the_key_nothing_is_read_or_written(tmp_path):
    unlocked = EncryptedGalleryStore(tmp_path / "gallery.bin", hub_key())
    unlocked.save(4, SITE, make_people(3))
    before = unlocked.path.read_bytes()
    locked = EncryptedGalleryStore(unlocked.path, HubGalleryKey("kiosk-1", signing.generate_private_key()))
    with pytest.raises(GalleryLocked, match="waiting for the hub"):
        locked.load()
    with pytest.raises(GalleryLocked):
        locked.save(5, SITE, make_people(3))
    assert unlocked.path.read_bytes() == before
    cache = GalleryCache(SITE, locked)
    assert cache.load() == 0 and len(cache.gallery) == 0     # locked: empty, the file kept for when the key comes
    assert unlocked.path.read_bytes() == before


@pytest.mark.parametrize("written, read", [("card", "hub"), ("hub", "card")])
def test_a_cache_of_the_other_key_source_is_refused_and_the_kiosk_starts_empty(tmp_path, written, read):
    card = CardGalleryKey(make_key(tmp_path / "device.key"))
    sources = {"card": card, "hub": hub_key()}
    EncryptedGalleryStore(tmp_path / "gallery.bin", sources[written]).save(6, SITE, make_people(3))
    store = EncryptedGalleryStore(tmp_path / "gallery.bin", sources[read])
    with pytest.raises(GalleryStoreError, match=f"written under the '{written}' key scheme.*key_source is '{read}'"):
        store.load()
    assert GalleryCache(SITE, store).load() == 0    # version 0: the link asks the hub for the full gallery


def write_format_1(path: Path, key_file: Path, version: int, people: dict) -> None:
    """A cache as kiosks wrote it before the key source existed: no scheme byte, key from device.key."""
    site = SITE.encode()
    header = struct.pack("<8sHQH", b"FAGALLRY", 1, version, len(site)) + site
    nonce = os.urandom(12)
    path.write_bytes(header + nonce + AESGCM(derive_card_key(key_file)).encrypt(nonce, encode_payload(people), header))


@pytest.mark.parametrize("source", ["hub", "card"])
def test_a_cache_of_the_old_card_key_scheme_does_not_crash_the_kiosk(tmp_path, source):
    key_file = make_key(tmp_path / "device.key")
    write_format_1(tmp_path / "gallery.bin", key_file, 9, make_people(4))
    store = EncryptedGalleryStore(tmp_path / "gallery.bin", hub_key() if source == "hub" else CardGalleryKey(key_file))
    with pytest.raises(GalleryStoreError, match="old card-derived key scheme"):
        store.load()
    cache = GalleryCache(SITE, store)
    assert cache.load() == 0 and len(cache.gallery) == 0
    delta = messages.GalleryDelta(site_id=SITE, from_version=0, to_version=10, full=True, upserts=[
        messages.GalleryPerson(employee_id="E1", encodings=[messages.encode_template(np.ones(128) / 12)])])
    assert cache.apply(delta) == 10                 # the full gallery replaces the old file
    assert store.load()[0] == 10


def test_the_file_holds_no_plaintext_ids_names_or_templates(store):
    people = make_people(30)
    store.save(9, SITE, people)
    blob = store.path.read_bytes()
    for employee_id, (name, templates) in people.items():
        assert employee_id.encode() not in blob
        assert name.encode("utf-8") not in blob
        assert templates[0][:4].astype("<f4").tobytes() not in blob
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"": ("x", [])}, "non-empty string"),
        ({"E1": ("x", [np.zeros(127)])}, "E1 does not have 128 values"),
        ({"E1": ("x", [np.zeros(128)]), "E2": ("y", [np.zeros(128), np.full(128, np.nan)])}, "E2 holds NaN"),
        ({"E1": (None, [])}, "name of E1"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(store, bad, message):
    store.save(1, SITE, make_people(2))
    before = store.path.read_bytes()
    with pytest.raises(ValueError, match=message):
        store.save(2, SITE, bad)
    assert store.path.read_bytes() == before


def test_a_leftover_temp_file_from_a_crash_changes_nothing(store):
    people = make_people(10)
    store.save(4, SITE, people)
    store.temp_path.write_bytes(b"FAGALLRY half a file from a power cut")
    assert store.load()[0] == 4
    store.save(5, SITE, people)  # the next save simply overwrites it
    assert store.load()[0] == 5 and not store.temp_path.exists()


def test_an_interrupted_save_leaves_the_old_gallery_intact(tmp_path):
    """The write of the new file really fails part-way (file size limit), in a child process."""
    key_file = make_key(tmp_path / "device.key")
    store = EncryptedGalleryStore(tmp_path / "gallery.bin", CardGalleryKey(key_file))
    old = make_people(10)
    store.save(10, SITE, old)
    child = textwrap.dedent(
        f"""
        import resource, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        from pathlib import Path
        import numpy as np
        from kiosk.gallery_key import CardGalleryKey
        from kiosk.gallery_store import EncryptedGalleryStore
        rng = np.random.default_rng(1)
        people = {{f"N{{i}}": ("n", list(rng.standard_normal((3, 128)).astype(np.float32))) for i in range(2000)}}
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
        try:
            store = EncryptedGalleryStore(Path({str(store.path)!r}), CardGalleryKey(Path({str(key_file)!r})))
            store.save(11, "s", people)
        except OSError as exc:
            print("save failed:", exc)
            sys.exit(3)
        """
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "cannot save the gallery cache" in done.stdout and "File too large" in done.stdout
    version, site_id, loaded = store.load()
    assert (version, site_id) == (10, SITE)
    assert_same(old, loaded)
    assert not store.temp_path.exists()
    assert sorted(os.listdir(tmp_path)) == ["device.key", "gallery.bin"]
