"""Phone punches per second and their latency, as the phone page sends them with the shipped defaults.

Run ``python -m benchmarks.phone`` (a few minutes on two shared cores).

The hub app (``create_app`` + the phone service, SQLite in a temp folder, or
``--database-url``) is served by uvicorn in a separate process on 127.0.0.1.
The only live person we have is the one of ``../shared/faces/video/blink-1.mp4``,
so every employee is that person: enrolled from the video's frames
``phone_burst.ENROL`` (outside every burst sent), one staff number per client
(``--people``), each activated through the real API (codes read from the SMS
outbox file) and giving consent as the page does (POST /phone/api/consent).

With ``challenge: required`` (the default) a punch is what the page sends: a
fresh nonce, then position + 30 frames 100 ms apart (``frame`` parts, JPEG q85,
at most 640 px) with ``frame_ms``. The frames are a window of the video that
holds a blink and no enrolment frame, so punches can genuinely pass. The hub
draws the challenge at random (blink, turn left, turn right); the video only
blinks, so the benchmark's hub draws blink every time (a head turn costs the
same detection and landmarks per frame). With ``challenge: off`` (not the
default) a punch sends one selfie: a frame of the same video, q90.

A camera never gives the same bytes twice and the hub refuses frames an earlier
punch used (``frame_reused``), so each punch's frames get fresh sensor noise
(+-1 grey level per pixel) before JPEG encoding, made before the timed run.

Also measured in this process: where one burst's time goes (the hub's own
``check_burst`` with its decode, detection, landmarks, liveness judgement and
encodings timed), and the stages of one selfie.
"""

import argparse
import math
import multiprocessing
import os
import random
import re
import secrets
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_FACES, REPO, environment_lines, markdown_table, require_dir, write_report
from benchmarks.phone_burst import ENROL, FPS, FRAMES, holds_blink

SITE = (26.8467, 80.9462)
BURST_QUALITY = 85     # app.js recordBurst: captureFrame(burst.max_side, 0.85)
SELFIE_QUALITY = 90    # app.js captureFrame() default
RUSH_STAFF = 100_000   # the morning rush the report sizes a hub for
RUSH_SHARE = 0.05      # who fall back to the phone
RUSH_MINUTES = 30


# --- what the page sends (pure) -----------------------------------------------------

def burst_windows(n_frames: int, blinks: tuple[float, ...], eyes_down: tuple[tuple[float, float], ...],
                  enrol: Sequence[int] = ENROL, frames: int = FRAMES, fps: float = FPS) -> list[int]:
    """First frame of every ``frames``-long window of the video that holds a blink after open eyes
    (``phone_burst.holds_blink``) and none of the frames the employee is enrolled from."""
    return [start for start in range(n_frames - frames + 1)
            if holds_blink(start / fps, blinks, eyes_down) and not any(start <= i < start + frames for i in enrol)]


def camera_noise(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The picture with +-1 grey level of sensor noise per pixel: what makes two captures differ in bytes."""
    return np.clip(rgb.astype(np.int16) + rng.integers(-1, 2, size=rgb.shape), 0, 255).astype(np.uint8)


def jpeg(rgb: np.ndarray, quality: int) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def burst_payload(frames: Sequence[np.ndarray], rng: np.random.Generator,
                  interval_ms: int = 100) -> tuple[list[tuple[str, tuple[str, bytes, str]]], dict[str, str]]:
    """The multipart parts of a burst as app.js builds them: one ``frame`` file per frame (JPEG q85,
    ``frame-i.jpg``) and ``frame_ms``, each frame's ms since the first, comma-separated."""
    files = [("frame", (f"frame-{i}.jpg", jpeg(camera_noise(f, rng), BURST_QUALITY), "image/jpeg"))
             for i, f in enumerate(frames)]
    return files, {"frame_ms": ",".join(str(i * interval_ms) for i in range(len(frames)))}


def selfie_payload(frame: np.ndarray, rng: np.random.Generator) -> tuple[list, dict[str, str]]:
    """One ``selfie`` part (JPEG q90), what the page sends when the hub's challenge is off."""
    return [("selfie", ("selfie.jpg", jpeg(camera_noise(frame, rng), SELFIE_QUALITY), "image/jpeg"))], {}


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, int(np.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def processes_for_rush(per_process_per_s: float, staff: int = RUSH_STAFF, share: float = RUSH_SHARE,
                       minutes: float = RUSH_MINUTES) -> int:
    """API processes (each on its own core) that keep up with ``share`` of ``staff`` punching by phone
    evenly over ``minutes``, at the measured rate of one process."""
    return math.ceil(staff * share / (minutes * 60) / per_process_per_s)


# --- the hub ------------------------------------------------------------------------

class BlinkOnly(random.Random):
    """Draws blink for every nonce: the only action the real video shows."""

    def choice(self, seq):  # noqa: D102 - the hub calls rng.choice(CHALLENGES)
        if "blink" not in seq:
            raise ValueError(f"no blink among {seq}")
        return "blink"


def build_world(url: str, people: list[dict]) -> None:
    from hub.db import Employee, FaceTemplate, Site, init_db, make_engine, make_session_factory

    engine = make_engine(url)
    init_db(engine)
    with make_session_factory(engine)() as session:
        session.add(Site(site_id="office", name="Office", lat=SITE[0], lon=SITE[1], radius_m=150.0,
                         phone_policy="always"))
        session.flush()
        for p in people:
            session.add(Employee(employee_id=p["staff"], name=p["name"], home_site_id="office", mobile=p["mobile"]))
        session.flush()
        for p in people:
            session.add_all(FaceTemplate(employee_id=p["staff"], encoding=t, source=f"frame-{i}")
                            for i, t in zip(ENROL, p["templates"]))
        session.commit()
    engine.dispose()


def serve(url: str, workdir: str, port: int, challenge: str) -> None:
    """The hub in a child process: create_app + the phone service, served by uvicorn."""
    import logging

    import uvicorn

    from hub.api import create_app
    from hub.api.routes.phone import configure
    from hub.config import HubConfig
    from hub.db import make_engine
    from hub.phone.config import PhoneConfig, ThrottleRule
    from hub.phone.service import PhoneService

    logging.basicConfig(level=logging.WARNING)
    token = Path(workdir) / "admin.token"
    engine = make_engine(url)
    app = create_app(HubConfig(admin_token_file=token, database_url=url), engine)
    many = ThrottleRule(max_failures=100_000, window_s=3600, lockout_s=60)  # one client address activates all
    configure(app, PhoneService(PhoneConfig(sms_outbox=Path(workdir) / "sms.jsonl", sms_per_address=many,
                                            challenge=challenge),
                                app.state.session_factory, rng=BlinkOnly()))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def activate(client, outbox: Path, person: dict) -> dict:
    """Activation by SMS code, then the consent the page asks for on first use; the phone's headers."""
    from hub.phone.sms import read_outbox

    activation = client.post("/phone/api/activation", json={"staff_number": person["staff"]}).json()["activation_id"]
    text = [m["text"] for m in read_outbox(outbox) if m["to"] == person["mobile"]][-1]
    code = re.search(r"\b(\d{6})\b", text).group(1)
    setup = client.post("/phone/api/activation/verify", json={"activation_id": activation, "code": code})
    done = client.post("/phone/api/activation/complete", json={
        "activation_id": activation, "setup_token": setup.json()["setup_token"],
        "password": "Bench-" + secrets.token_urlsafe(9)}).json()
    headers = {"Authorization": f"Bearer {done['session_token']}", "X-Phone-Device": done["device_token"]}
    given = client.post("/phone/api/consent", headers=headers, json={"language": "en"})
    if given.status_code != 200 or not given.json().get("given"):
        raise RuntimeError(f"consent for {person['staff']} not recorded: {given.status_code} {given.text[:200]}")
    return headers


def one_punch(client, headers: dict, payload: tuple[list, dict]) -> tuple[int, str, float, float]:
    """(status, reason or "", nonce ms, punch ms)."""
    files, form = payload
    started = time.perf_counter()
    nonce = client.post("/phone/api/nonce", headers=headers).json()
    middle = time.perf_counter()
    wanted = sum(1 for name, _ in files if name == "frame")
    if (nonce["burst"] or {}).get("frames", 0) != wanted:
        raise RuntimeError(f"the hub asked for {nonce['challenge']} / {nonce['burst']}; the payload has {wanted} frames")
    response = client.post("/phone/api/punch", headers=headers, files=files, data={
        "lat": str(SITE[0]), "lon": str(SITE[1]), "accuracy": "12", "nonce": nonce["nonce"], **form})
    ended = time.perf_counter()
    reason = "" if response.status_code == 200 else str(response.json().get("reason", response.status_code))
    return response.status_code, reason, (middle - started) * 1000, (ended - middle) * 1000


def run_level(base: str, phones: list[tuple[dict, dict]], concurrency: int,
              payloads: list[tuple[list, dict]]) -> dict:
    """``len(payloads)`` punches by ``concurrency`` clients, each client punching as its own employees."""
    import httpx

    jobs = [(phones[i % len(phones)][1], payload) for i, payload in enumerate(payloads)]
    lock = threading.Lock()
    results: list[tuple[int, str, float, float]] = []

    def worker(slice_: list[tuple[dict, tuple]]) -> None:
        with httpx.Client(base_url=base, timeout=300) as client:
            for headers, payload in slice_:
                outcome = one_punch(client, headers, payload)
                with lock:
                    results.append(outcome)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, [jobs[i::concurrency] for i in range(concurrency)]))
    wall = time.perf_counter() - started
    punch_ms = sorted(r[3] for r in results)
    cycle_ms = sorted(r[2] + r[3] for r in results)
    refused: dict[str, int] = {}
    for status, reason, _, _ in results:
        if status != 200:
            refused[reason] = refused.get(reason, 0) + 1
    return {"concurrency": concurrency, "punches": len(results), "wall_s": wall, "per_s": len(results) / wall,
            "p50": percentile(punch_ms, 50), "p99": percentile(punch_ms, 99), "max": punch_ms[-1],
            "cycle_p50": percentile(cycle_ms, 50), "cycle_p99": percentile(cycle_ms, 99),
            "nonce_p50": statistics.median(r[2] for r in results), "refused": refused}


def measure(challenge: str, people: list[dict], levels: list[int],
            payloads: Iterator[tuple[list, dict]], punches: int, database_url: str | None) -> list[dict]:
    """A fresh hub with ``challenge``; activate every employee, one warm-up punch, then each level."""
    import httpx

    with tempfile.TemporaryDirectory(prefix="phone-bench-") as workdir:
        url = database_url or f"sqlite:///{workdir}/hub.sqlite"
        (Path(workdir) / "admin.token").write_text(secrets.token_urlsafe(32) + "\n")
        build_world(url, people)
        port = free_port()
        server = multiprocessing.get_context("spawn").Process(target=serve, args=(url, workdir, port, challenge),
                                                              daemon=True)
        server.start()
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, server)
            with httpx.Client(base_url=base, timeout=300) as client:
                phones = [(p, activate(client, Path(workdir) / "sms.jsonl", p)) for p in people]
                warm = one_punch(client, phones[0][1], next(payloads))  # loads dlib's models in the server
                print(f"{challenge}: warm-up punch {warm}", flush=True)
            results = []
            for c in levels:
                results.append(run_level(base, phones, c, [next(payloads) for _ in range(punches)]))
                print(f"{challenge}: {results[-1]}", flush=True)
            return results
        finally:
            server.terminate()
            server.join(10)


def wait_healthy(base: str, server, timeout_s: float = 60.0) -> None:
    import httpx

    stop = threading.Event()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.is_alive():
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        stop.wait(0.1)
    raise RuntimeError(f"the hub did not come up on {base}")


# --- where the time goes (in this process) -------------------------------------------

@contextmanager
def stopwatch(targets: Sequence[tuple[object, str, str]]) -> Iterator[tuple[dict[str, float], dict[str, int]]]:
    """Time every call of ``owner.attr`` (module functions or an instance's methods) under ``label``,
    restoring them afterwards: the hub's own code runs, only wrapped."""
    spent: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    restore = []
    for owner, attr, label in targets:
        original = getattr(owner, attr)

        def wrapper(*args, _f=original, _label=label, **kwargs):
            t0 = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                spent[_label] += time.perf_counter() - t0
                calls[_label] += 1

        restore.append((owner, attr, original, attr in vars(owner)))
        setattr(owner, attr, wrapper)
    try:
        yield spent, calls
    finally:
        for owner, attr, original, own in reversed(restore):
            if own:
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)


def burst_stages(encoder, templates: list[np.ndarray], bursts: list[list[bytes]]) -> list[list[object]]:
    """Median ms per burst of each step of ``hub.phone.burst.check_burst`` (and calls per burst)."""
    from hub.phone import burst, selfie
    from hub.phone.config import PhoneConfig

    cfg = PhoneConfig()
    limits = burst.BurstLimits(cfg.burst_min_frames, cfg.burst_max_frames, cfg.max_burst_frame_bytes,
                               cfg.max_burst_bytes, cfg.burst_max_span_s, cfg.max_selfie_pixels, cfg.burst_max_side,
                               cfg.burst_max_missing_fraction)
    labels = [f"decode the JPEG frames (<= {cfg.burst_max_side} px)", "HOG face detection", "68 landmarks",
              "liveness judgement (kiosk.liveness_burst)", "128-d encodings (identity, spread over the burst)"]
    per: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, list[int]] = defaultdict(list)
    for frames in bursts:
        targets = [(selfie, "decode_selfie", labels[0]), (encoder, "detect", labels[1]),
                   (encoder, "landmarks68", labels[2]), (burst, "judge_burst", labels[3]),
                   (encoder, "encode", labels[4])]
        with stopwatch(targets) as (spent, calls):
            t0 = time.perf_counter()
            hashes = burst.check_sizes(frames, limits)
            burst.check_burst(frames, [i / FPS for i in range(len(frames))], hashes, challenge="blink",
                              encoder=encoder, templates=templates, liveness=cfg.liveness, limits=limits,
                              accept_distance=cfg.accept_distance)
            total = time.perf_counter() - t0
        for label in labels:
            per[label].append(spent[label] * 1000)
            counts[label].append(calls[label])
        per["rest (hashes, tracking, matching)"].append((total - sum(spent.values())) * 1000)
        per["whole burst"].append(total * 1000)
    return [[label, f"{statistics.median(v):.0f}", statistics.median(counts[label]) if label in counts else "",
             f"{statistics.median(v) / statistics.median(counts[label]):.1f}" if counts.get(label) else ""]
            for label, v in per.items()]


def selfie_stages(encoder, templates: list[np.ndarray], selfies: list[bytes]) -> list[list[object]]:
    """Median ms of each stage of one selfie (challenge off), in this process."""
    from hub.phone.config import PhoneConfig
    from hub.phone.selfie import decode_selfie, match_distance, single_face_encoding

    cfg = PhoneConfig()
    times: dict[str, list[float]] = {"decode JPEG (draft, <= 800 px)": [], "detect + encode (dlib)": [],
                                     "1:1 match": []}
    for data in selfies:
        t0 = time.perf_counter()
        rgb = decode_selfie(data, max_bytes=cfg.max_selfie_bytes, max_pixels=cfg.max_selfie_pixels,
                            max_side=cfg.selfie_max_side)
        t1 = time.perf_counter()
        probe = single_face_encoding(encoder, rgb)
        t2 = time.perf_counter()
        match_distance(templates, probe, cfg.accept_distance)
        t3 = time.perf_counter()
        for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            times[key].append(value * 1000)
    return [[stage, f"{statistics.median(v):.2f}", f"{max(v):.2f}"] for stage, v in times.items()]


# --- the run -------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="the shared faces folder (has video/)")
    parser.add_argument("--people", type=int, default=2, help="employees (one per client, all the video's person)")
    parser.add_argument("--punches", type=int, default=40, help="burst punches per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2], help="parallel clients (bursts)")
    parser.add_argument("--selfie-punches", type=int, default=60, help="selfie punches per level (challenge off)")
    parser.add_argument("--selfie-concurrency", type=int, nargs="+", default=[1, 2, 4],
                        help="parallel clients (challenge off)")
    parser.add_argument("--stage-bursts", type=int, default=3, help="bursts timed step by step in this process")
    parser.add_argument("--database-url", help="default: a SQLite file in a temp folder")
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS-phone.md", help="markdown report")
    args = parser.parse_args(argv)
    video_path = args.faces / "video" / "blink-1.mp4"
    if not require_dir(args.faces / "video", "the real blink video"):
        return 0

    from benchmarks.liveness_frames import VIDEO_BLINKS_S, VIDEO_EYES_DOWN_S, video_frames
    from biometrics.encoder import FaceEncoder

    load_before = os.getloadavg()
    encoder = FaceEncoder()
    video = video_frames(video_path)[1]
    templates = [encoder.encode_largest(video[i])[1] for i in ENROL]
    blobs = [t.astype("<f4").tobytes() for t in templates]
    people = [{"staff": f"V{n + 1:04d}", "name": f"Video person {n + 1}", "templates": blobs,
               "mobile": f"+9190000{n + 1:05d}"} for n in range(max(args.people, 1))]
    windows = burst_windows(len(video), VIDEO_BLINKS_S, VIDEO_EYES_DOWN_S)
    if not windows:
        raise RuntimeError("no window of the video holds a blink outside the enrolment frames")
    rng = np.random.default_rng(2026)

    def bursts() -> Iterator[tuple[list, dict]]:
        n = 0
        while True:
            start = windows[n % len(windows)]
            yield burst_payload(video[start:start + FRAMES], rng)
            n += 1

    def selfies() -> Iterator[tuple[list, dict]]:
        n = 0
        while True:
            start = windows[n % len(windows)]
            yield selfie_payload(video[start + n % FRAMES], rng)
            n += 1

    burst_need = 1 + args.punches * len(args.concurrency)
    made = bursts()
    burst_list = [next(made) for _ in range(burst_need)]  # encoded before the timed run
    made_selfies = selfies()
    selfie_list = [next(made_selfies) for _ in range(1 + args.selfie_punches * len(args.selfie_concurrency))]
    stage_frames = [[data for _, (_, data, _) in burst_payload(video[w:w + FRAMES], rng)[0]]
                    for w in windows[:: max(1, len(windows) // args.stage_bursts)][:args.stage_bursts]]
    stages = burst_stages(encoder, templates, stage_frames)
    selfie_rows = selfie_stages(encoder, templates, [files[0][1][1] for files, _ in selfie_list[:10]])
    burst_levels = measure("required", people, args.concurrency, iter(burst_list), args.punches, args.database_url)
    selfie_levels = measure("off", people, args.selfie_concurrency, iter(selfie_list), args.selfie_punches,
                            args.database_url)
    load_after = os.getloadavg()
    frame_kb = [sum(len(data) for _, (_, data, _) in files) / 1024 for files, _ in burst_list]
    write_report(args.out, render(
        database=args.database_url or "SQLite (WAL, synchronous FULL) in a temp folder", people=len(people),
        windows=windows, frame_kb=frame_kb, stages=stages, selfie_rows=selfie_rows, burst_levels=burst_levels,
        selfie_levels=selfie_levels, load=(load_before, load_after)).splitlines())
    return 0


def level_rows(levels: list[dict]) -> list[list[object]]:
    return [[lv["concurrency"], lv["punches"], f"{lv['per_s']:.2f}", f"{lv['per_s'] * 60:.0f}",
             f"{lv['p50']:.0f}", f"{lv['p99']:.0f}", f"{lv['cycle_p50']:.0f}", f"{lv['cycle_p99']:.0f}",
             ", ".join(f"{k}: {v}" for k, v in sorted(lv["refused"].items())) or "none"] for lv in levels]


LEVEL_HEADERS = ["clients", "punches", "punches/s", "punches/min", "punch p50 ms", "punch p99 ms",
                 "nonce+punch p50 ms", "nonce+punch p99 ms", "refused (reason: count)"]


def render(*, database: str, people: int, windows: list[int], frame_kb: list[float], stages: list[list[object]],
           selfie_rows: list[list[object]], burst_levels: list[dict], selfie_levels: list[dict],
           load: tuple[tuple[float, ...], tuple[float, ...]]) -> str:
    best = max(burst_levels, key=lambda lv: lv["per_s"])
    best_selfie = max(selfie_levels, key=lambda lv: lv["per_s"])
    rush_per_s = RUSH_STAFF * RUSH_SHARE / (RUSH_MINUTES * 60)
    few = min(lv["punches"] for lv in burst_levels)
    return "\n".join([
        "# Phone punch benchmark (section for BENCHMARKS.md)",
        "",
        *environment_lines("benchmarks.phone"),
        f"- machine load (1/5/15 min) before: {', '.join(f'{v:.1f}' for v in load[0])}; after: "
        f"{', '.join(f'{v:.1f}' for v in load[1])} (other engineers' tests and a long benchmark share the 2 cores)",
        f"- hub: `create_app` + phone service under uvicorn in its own process on 127.0.0.1; database: {database}",
        f"- {people} employees, every one the person of `video/blink-1.mp4` (the only live person we have), "
        f"enrolled from its frames {', '.join(map(str, ENROL))} (outside every burst), activated through the API "
        "with consent recorded as the page does; each client punches as its own employee (no two clients share "
        "one), always at the site's centre with 12 m accuracy, so the travel check never trips (the phone path "
        "has no duplicate-punch window; every refusal is counted below by reason)",
        "- a punch = POST /phone/api/nonce, then POST /phone/api/punch (multipart), as `hub/static/phone/app.js` "
        "sends it; clients are httpx in threads of the benchmark process",
        "",
        "## Shipped default: `challenge: required` (a burst with the live check)",
        "",
        f"- each punch: {FRAMES} frames 100 ms apart (`frame` parts + `frame_ms`), 640x480 JPEG q{BURST_QUALITY} "
        f"({min(frame_kb):.0f}-{max(frame_kb):.0f} KB a burst), cut from the video at one of the {len(windows)} "
        f"windows that hold a blink and no enrolment frame (first frames {windows[0]}-{windows[-1]}), each frame "
        "with fresh +-1 grey-level noise, as a camera never repeats its bytes (the hub refuses frames reused)",
        "- the hub draws the challenge at random among blink, turn left and turn right; the video only blinks, so "
        "this hub draws blink for every nonce (`BlinkOnly`). A head turn costs the same detection and landmarks "
        "per frame; only the judgement's arithmetic differs",
        f"- {few} punches per level: the p99 is the slowest punch of the level, not a stable tail",
        "",
        markdown_table(LEVEL_HEADERS, level_rows(burst_levels)),
        "",
        "### Where one burst's time goes (in-process, `hub.phone.burst.check_burst`, one burst at a time)",
        "",
        markdown_table(["step", "median ms a burst", "calls a burst", "ms a call"], stages),
        "",
        "## Not the default: `challenge: off` (one selfie, no live check; every punch flagged liveness_unchecked)",
        "",
        f"- each punch: one frame of the same video windows, JPEG q{SELFIE_QUALITY} (`selfie` part), fresh noise",
        "",
        markdown_table(LEVEL_HEADERS, level_rows(selfie_levels)),
        "",
        "### Where one selfie's time goes (in-process)",
        "",
        markdown_table(["stage", "median ms", "max ms"], selfie_rows),
        "",
        "## What this means for a hub",
        "",
        f"- One API process judges about {best['per_s'] * 60:.0f} burst punches a minute here "
        f"({best['per_s']:.2f}/s at {best['concurrency']} client(s)); with the challenge off it would take "
        f"{best_selfie['per_s'] * 60:.0f} a minute. The live check makes a phone punch some "
        f"{best_selfie['per_s'] / best['per_s']:.0f} times dearer: it detects and landmarks every frame and encodes "
        "four, where a selfie is one detection and one encoding.",
        f"- A morning rush of phone fallbacks, {RUSH_SHARE:.0%} of {RUSH_STAFF:,} staff in {RUSH_MINUTES} minutes, "
        f"is {rush_per_s:.1f} punches/s evenly spread: at this rate that needs "
        f"{processes_for_rush(best['per_s'])} API processes, each with a core of its own "
        f"(with the challenge off: {processes_for_rush(best_selfie['per_s'])}). Peaks above the even rate queue: "
        "a client waits for the bursts ahead of it (compare the latency at more clients above).",
        "- More clients do not raise the rate of one process: `FaceEncoder` serialises dlib calls, so extra "
        "clients queue. The rate scales with API processes (`uvicorn --workers N`, or several `hub-api` units "
        "behind the proxy) up to the number of cores. This machine was loaded (see above), and dlib here has no "
        "BLAS: on an idle core, and with a BLAS build, a burst costs less; the process count above is an upper "
        "bound for this build, not a measurement of a production server.",
        "",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
