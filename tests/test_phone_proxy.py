"""Phone punches need a live person (issue 20 part 1), through the real app and the real face models.

The employee is the person of ``../shared/faces/video/blink-1.mp4``, enrolled
from frames outside every burst sent here. A live burst is 2.2 s of that
video (a real blink at 3.4 s after open eyes); the forgeries are built from
the same person's own frames (the strongest attack: the enrolment photo or a
still of the video), from printed photos in ``antispoof/spoof``, and with
``benchmarks.forgery_render`` (a print moved by hand, a photo alternated with
a copy whose eyes are painted shut). Nothing is mocked; frames are never copied
into the repository.
"""

import io
import ipaddress

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from benchmarks.forgery_render import Pose, camera, painted_shut, render_sheet
from benchmarks.liveness_frames import FPS, video_frames
from biometrics.encoder import FaceEncoder, load_image_rgb
from hub.db import PunchRecord, Site, make_session_factory
from hub.phone.config import PhoneConfig
from hub.phone.models import PhoneFrameHash, PhoneRefusal
from tests import phonekit as kit
from tests.hub_api_kit import HubApi
from tests.hub_db import sqlite_engine
from tests.test_hub_phone_api import API, activate, agree, refused

pytestmark = pytest.mark.faces

BURST = (20, 42)               # frames of the 10 fps video: 2.0-4.2 s, the blink at 3.4 s
ENROL = (0, 52, 88, 135)       # 0.0, 5.2, 8.8 and 13.5 s: outside the burst
OFFICE = "198.51.100.0/24"     # the client address of these tests (198.51.100.7) is inside it


def jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


@pytest.fixture(scope="module")
def video(faces_dir):
    path = faces_dir / "video" / "blink-1.mp4"
    if not path.is_file():
        pytest.skip(f"real blink video not found at {path}")
    return video_frames(path)[1]


@pytest.fixture(scope="module")
def templates(encoder, video):
    return kit.encodings_of(encoder, [video[i] for i in ENROL])


@pytest.fixture
def world(tmp_path, encoder, templates):
    """``world(**phone_settings)`` -> (Phone, session factory); the employee is the person of the video."""
    engine = sqlite_engine(tmp_path)
    kit.build_world(engine, templates)
    clients = []

    def build(networks=None, **settings):
        if networks is not None:
            with make_session_factory(engine)() as session:
                session.get(Site, "home").phone_networks = networks
                session.commit()
        app = kit.make_app(tmp_path, engine, encoder, challenge=settings.pop("challenge", "required"), **settings)
        client = TestClient(app, base_url="https://hub.example", client=("198.51.100.7", 40000))
        clients.append(client)
        headers = activate(client, tmp_path / "sms-outbox.jsonl")
        agree(client, headers)
        return Phone(client, headers), app.state.session_factory

    yield build
    for client in clients:
        client.close()
    engine.dispose()


class Phone:
    """An activated phone; ``punch`` sends a burst (or a selfie) with a fresh nonce of the wanted challenge."""

    def __init__(self, client: TestClient, headers: dict) -> None:
        self.client, self.headers = client, headers

    def nonce(self, challenge: str | None = "blink") -> dict:
        """A nonce whose challenge is ``challenge`` (the hub draws it at random: ask until it comes)."""
        for _ in range(60):
            body = self.client.post(f"{API}/nonce", headers=self.headers).json()
            if body["challenge"] == challenge:
                return body
        raise AssertionError(f"the hub never drew {challenge!r} in 60 nonces")

    def punch(self, frames: list[bytes] | None = None, selfie: bytes | None = None, challenge: str | None = "blink",
              frame_ms: str | None = None):
        nonce = self.nonce(challenge)
        form = {"lat": str(kit.HOME[0]), "lon": str(kit.HOME[1]), "accuracy": "10", "nonce": nonce["nonce"]}
        files = [("frame", (f"{i}.jpg", f, "image/jpeg")) for i, f in enumerate(frames or [])]
        if frames:
            form["frame_ms"] = frame_ms or ",".join(str(round(i * 1000 / FPS)) for i in range(len(frames)))
        if selfie is not None:
            files.append(("selfie", ("selfie.jpg", selfie, "image/jpeg")))
        return self.client.post(f"{API}/punch", headers=self.headers, data=form, files=files or None)


def live_burst(video) -> list[bytes]:
    return [jpeg(video[i]) for i in range(*BURST)]


def stored(factory):
    with factory() as session:
        punches = list(session.scalars(select(PunchRecord)))
        hashes = list(session.scalars(select(PhoneFrameHash.sha256)))
        refusals = [(r.step, r.reason) for r in session.scalars(select(PhoneRefusal).order_by(PhoneRefusal.id))]
    return punches, hashes, refusals


# --- the nonce carries the challenge -------------------------------------------------------------

def test_each_nonce_carries_a_challenge_drawn_by_the_hub(world):
    phone, _ = world()
    drawn = [phone.client.post(f"{API}/nonce", headers=phone.headers).json() for _ in range(30)]
    assert {d["challenge"] for d in drawn} == {"blink", "turn_left", "turn_right"}
    assert all(d["burst"]["frames"] >= 10 and d["burst"]["interval_ms"] > 0 for d in drawn)
    off, _ = world(challenge="off")
    assert off.client.post(f"{API}/nonce", headers=off.headers).json()["challenge"] is None


# --- the live person ----------------------------------------------------------------------------

def test_a_live_burst_passes_and_its_frames_are_never_accepted_again(world, video):
    phone, factory = world(networks=[OFFICE])
    frames = live_burst(video)
    response = phone.punch(frames)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] and body["site_id"] == "home" and "phone_outside_network" not in body["flags"]
    [row], hashes, _ = stored(factory)
    assert row.method == "phone" and row.liveness_passed is True and row.liveness_score > 0.4
    assert len(hashes) == len(frames)

    # the same burst again, or one frame of it inside a new burst: refused and audited
    refused(phone.punch(frames), "frame_reused")
    mixed = [jpeg(video[i]) for i in range(60, 60 + len(frames) - 1)] + frames[5:6]
    refused(phone.punch(mixed), "frame_reused")
    punches, _, refusals = stored(factory)
    assert len(punches) == 1 and refusals == [("punch", "frame_reused")] * 2


def test_the_blink_video_does_not_answer_a_head_turn(world, video):
    phone, factory = world()
    body = refused(phone.punch(live_burst(video), challenge="turn_left"), "not_live")
    assert body["details"]["why"] in {"no_head_turn", "timeout"}
    assert stored(factory)[0] == []


# --- a reused selfie ----------------------------------------------------------------------------

def test_a_reused_selfie_is_refused(world, video):
    """With the challenge off (one selfie, flagged liveness_unchecked) the same bytes still pass only once."""
    phone, factory = world(challenge="off")
    selfie = jpeg(video[25])
    first = phone.punch(selfie=selfie, challenge=None)
    assert first.status_code == 200, first.text
    refused(phone.punch(selfie=selfie, challenge=None), "frame_reused")
    [row], _, refusals = stored(factory)
    assert row.liveness_passed is None and refusals == [("punch", "frame_reused")]
    # and a selfie accepted once cannot be slipped into a burst later
    challenged, _ = world()
    burst = [jpeg(video[i]) for i in range(60, 80)]
    refused(challenged.punch(burst[:10] + [selfie] + burst[10:]), "frame_reused")


def test_a_burst_without_frames_is_refused_when_the_challenge_is_on(world, video):
    phone, _ = world()
    refused(phone.punch(selfie=jpeg(video[25])), "burst_missing")
    # a nonce issued while the challenge was off asked for no action: once it is on, it buys no selfie punch
    off, _ = world(challenge="off")
    stale = off.nonce(None)
    on, _ = world()
    form = {"lat": str(kit.HOME[0]), "lon": str(kit.HOME[1]), "accuracy": "10", "nonce": stale["nonce"]}
    refused(on.client.post(f"{API}/punch", headers=on.headers, data=form,
                           files=[("selfie", ("s.jpg", jpeg(video[25]), "image/jpeg"))]), "nonce_invalid")


# --- a still photo through the challenge ---------------------------------------------------------

def test_the_same_photo_repeated_is_refused(world, video):
    phone, factory = world()
    still = jpeg(video[25])
    body = refused(phone.punch([still] * 20), "not_live")
    assert body["details"]["why"] == "still_image"
    assert stored(factory)[0] == []


@pytest.mark.parametrize("challenge", ["blink", "turn_right"])
def test_a_still_photo_jittered_like_a_camera_is_refused(world, video, challenge):
    """The person's own frame, re-encoded with fresh sensor noise, blur and a slight shake on every frame."""
    phone, _ = world()
    rng = np.random.default_rng(5)
    frames = [jpeg(camera(render_sheet(video[25], Pose(dx=float(rng.normal(0, 1.5)), dy=float(rng.normal(0, 1.5)))),
                          rng)) for _ in range(20)]
    refused(phone.punch(frames, challenge=challenge), "not_live")


# --- printed photos -------------------------------------------------------------------------------

def hand_held(image: np.ndarray, rng: np.random.Generator, n: int = 22, swing: float = 0.0) -> list[np.ndarray]:
    """A print of ``image`` held by hand: slow shake (and a turn of ``swing`` degrees and back), seen by a camera."""
    t = np.arange(n) / FPS
    return [camera(render_sheet(image, Pose(yaw=float(swing * np.sin(np.pi * t[i] / t[-1])),
                                            pitch=float(2 * np.sin(2.1 * t[i])), roll=float(np.sin(1.7 * t[i])),
                                            dx=float(3 * np.sin(1.3 * t[i])), dy=float(2 * np.sin(0.9 * t[i])))), rng)
            for i in range(n)]


def test_a_printed_photo_of_the_employee_moved_by_hand_is_refused(world, video):
    phone, _ = world()
    rng = np.random.default_rng(7)
    refused(phone.punch([jpeg(f) for f in hand_held(video[25], rng)]), "not_live")
    refused(phone.punch([jpeg(f) for f in hand_held(video[25], rng, swing=35.0)], challenge="turn_left"), "not_live")


def test_a_print_blinking_with_painted_shut_eyes_is_refused(world, video, encoder):
    """The forger's blink: the print swapped for a copy with the eyes painted shut (a lash line drawn) for 3 frames."""
    phone, _ = world()
    rng = np.random.default_rng(3)
    face = encoder.detect(video[25])[0]
    shut = painted_shut(video[25], encoder.landmarks68(video[25], face), lash_line=True, rng=rng)
    images = [shut if 12 <= i < 15 else video[25] for i in range(22)]
    frames = [camera(render_sheet(img, Pose(dx=float(np.sin(i / 3)), dy=float(np.cos(i / 4)))), rng)
              for i, img in enumerate(images)]
    refused(phone.punch([jpeg(f) for f in frames]), "not_live")


@pytest.mark.parametrize("n", [1, 2, 3, 13, 20])
def test_printed_photos_held_to_a_camera_are_refused(world, faces_dir, n):
    """``antispoof/spoof``: camera photos of printed photos (1, 3, 13, 20) and of a tablet screen (2), moved by hand."""
    phone, _ = world()
    rgb = load_image_rgb(faces_dir / "antispoof" / "spoof" / f"{n}.jpg")
    scale = 480 / rgb.shape[0]
    rgb = np.asarray(Image.fromarray(rgb).resize((round(rgb.shape[1] * scale), 480)))
    frames = hand_held(rgb, np.random.default_rng(n))
    body = refused(phone.punch([jpeg(f) for f in frames]), "not_live")
    assert body["details"]["why"] != "face_lost", "the print's face must be seen to be judged"


# --- limits ---------------------------------------------------------------------------------------

def test_burst_limits_are_refused_with_their_reason(world, video):
    phone, _ = world(max_burst_frame_bytes=60_000, max_burst_bytes=1_000_000)
    frames = live_burst(video)[:12]
    refused(phone.punch(frames[:5]), "burst_invalid")                       # too few
    refused(phone.punch(frames * 3), "burst_invalid")                       # too many
    refused(phone.punch(frames, frame_ms="0,1,2"), "burst_invalid")         # not one time per frame
    refused(phone.punch(frames, frame_ms=",".join(["0"] * 12)), "burst_invalid")  # no time passes
    refused(phone.punch(frames[:11] + [jpeg(video[30], quality=100) + b"\0" * 60_000]), "burst_too_large")
    big = phone.client.post(f"{API}/punch", headers={**phone.headers, "Content-Type": "multipart/form-data; b=x"},
                            content=b"x" * 1_200_000)
    assert big.status_code == 413 and big.json()["reason"] == "burst_too_large", big.text
    refused(phone.punch(frames[:11] + [b"not a jpeg"]), "selfie_invalid")


# --- the office network ---------------------------------------------------------------------------

def test_a_punch_from_outside_the_office_networks_is_flagged_or_refused(world, video):
    phone, factory = world(networks=["10.20.0.0/16"], challenge="off")
    response = phone.punch(selfie=jpeg(video[25]), challenge=None)
    assert response.status_code == 200, response.text
    assert "phone_outside_network" in response.json()["flags"]
    strict, _ = world(networks=["10.20.0.0/16"], challenge="off", refuse_outside_network=True)
    refused(strict.punch(selfie=jpeg(video[26]), challenge=None), "outside_network")
    inside, _ = world(networks=[OFFICE, "2001:db8::/32"], challenge="off", refuse_outside_network=True)
    ok = inside.punch(selfie=jpeg(video[27]), challenge=None)
    assert ok.status_code == 200 and "phone_outside_network" not in ok.json()["flags"]
    with factory() as session:
        flags = [r.flags for r in session.scalars(select(PunchRecord).order_by(PunchRecord.device_ts))]
    assert "phone_outside_network" in (flags[0] or "")


def test_flagged_phone_punches_are_listed_for_the_officer_with_their_meaning(world, video, tmp_path):
    phone, _ = world(networks=["10.20.0.0/16"], challenge="off")
    assert phone.punch(selfie=jpeg(video[25]), challenge=None).status_code == 200
    admin = {"Authorization": f"Bearer {(tmp_path / 'admin.token').read_text().strip()}"}
    [item] = phone.client.get("/api/v1/flagged", headers=admin).json()["items"]
    meanings = {f["kind"]: f["meaning"] for f in item["flags"]}
    assert "office networks" in meanings["phone_outside_network"]
    assert "liveness_unchecked" in meanings  # the challenge was off


@pytest.mark.parametrize("bad", [["10.0.0.1/8"], ["not-a-network"], ["10.0.0.0/8", "10.0.0.0/8"], ["10.0.0.0/33"]])
def test_site_networks_are_validated(tmp_path, bad):
    hub = HubApi(tmp_path, sqlite_engine(tmp_path))
    try:
        admin = hub.machine
        assert admin.post("/api/v1/sites", json={"site_id": "s1", "name": "Office"}).status_code == 201
        response = admin.patch("/api/v1/sites/s1", json={"phone_networks": bad})
        assert response.status_code == 422, response.text
        good = admin.patch("/api/v1/sites/s1", json={"phone_networks": ["10.20.0.0/16", "2001:DB8::/32"]})
        assert good.status_code == 200 and good.json()["phone_networks"] == ["10.20.0.0/16", "2001:db8::/32"]
        assert ipaddress.ip_address("10.20.3.4") in ipaddress.ip_network(good.json()["phone_networks"][0])
    finally:
        hub.close()


def test_the_infrared_check_cannot_be_turned_on_for_phones():
    """The kiosk's IR cue needs an IR camera beside the colour one; turned on for phones it would pass nobody."""
    with pytest.raises(ValueError, match="a phone has no IR camera"):
        PhoneConfig.model_validate({"liveness": {"ir": {"enabled": True}}})
