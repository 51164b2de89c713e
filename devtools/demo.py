"""`make demo`: the whole path on one machine, then a short account of what happened.

Starts its own Mosquitto and a hub on SQLite, enrols the people of a faces
folder, registers a kiosk, replays photos of enrolled and non-enrolled people
through the kiosk, and reports frames, faces, recognitions and punches as the
kiosk and the hub saw them. Everything it starts is stopped at the end
(``--keep`` leaves the hub and broker up until Ctrl-C).
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from devtools.mosquitto import BrokerError, MosquittoProcess, free_port

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FACES = REPO.parent / "shared" / "faces" / "dev"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
SITE_ID = "demo-office"
DEVICE_ID = "kiosk-demo-01"
PROBES_ENROLLED = 8
NOT_ENROLLED = 3
PHONE_MOBILE = "+919999900001"  # a made-up number for the demo's phone user: the SMS lands in a file


@dataclass(frozen=True)
class Plan:
    enrol: dict[str, list[Path]]      # employee id -> photos to enrol
    probes: list[tuple[str, Path, bool]]  # (identity, photo, enrolled?)


# The admin console's pages the summary points to (hub/static/dashboard/pages/): an office from an empty hub.
CONSOLE_PAGES = (
    ("org", "units, duty sites with their geofence, pay officers (DDOs), shift and cut-off"),
    ("staff", "search and page through staff; a person's record; add or change someone"),
    ("import", "a staff CSV: every bad row with its line before anything is written"),
    ("photos", "enrol from photos (or a ZIP), each judged by the kiosk's quality rules, after the notice and consent"),
    ("leave", "holidays per unit, leave and duty codes; the muster roll shows one code a day"),
    ("regularisation", "corrections staff asked for on the phone, to approve or reject"),
    ("devices", "kiosks, their health charts, remote commands and enrolling at a kiosk"),
    ("users", "users, roles and unit scopes; one-time passwords; lock and unlock"),
    ("audit", "who did what, when"),
)

def plan_people(faces: Path) -> Plan:
    """Enrol most identities; keep one photo of some back as probes; leave a few out entirely."""
    people = {
        d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for d in sorted(faces.iterdir())
        if d.is_dir()
    }
    people = {k: v for k, v in people.items() if v}
    multi = [k for k, v in people.items() if len(v) >= 2]
    if len(people) < 2 or not multi:
        raise SystemExit(f"{faces}: need at least two people, one of them with two or more photos")
    strangers = [k for k in multi[::-1][:NOT_ENROLLED]] if len(multi) > NOT_ENROLLED else []
    enrolled = [k for k in people if k not in strangers]
    probe_people = [k for k in enrolled if len(people[k]) >= 2][:PROBES_ENROLLED]
    enrol = {k: (people[k][:-1] if k in probe_people else people[k]) for k in enrolled}
    probes = [(k, people[k][-1], True) for k in probe_people]
    probes += [(k, people[k][0], False) for k in strangers]
    return Plan(enrol, probes)


def link_tree(plan: Plan, work: Path) -> tuple[Path, Path]:
    """Symlink (never copy) the photos into an enrolment tree and a replay folder."""
    enrol_dir, frames_dir = work / "enrol", work / "frames"
    for person, photos in plan.enrol.items():
        (enrol_dir / person).mkdir(parents=True)
        for photo in photos:
            (enrol_dir / person / photo.name).symlink_to(photo.resolve())
    frames_dir.mkdir()
    for i, (person, photo, _) in enumerate(plan.probes):
        (frames_dir / f"{i:03d}_{person}{photo.suffix.lower()}").symlink_to(photo.resolve())
    return enrol_dir, frames_dir


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def run(args: list[str], what: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"demo: {what} failed (exit {proc.returncode}): {' '.join(args)}")
    return proc.stdout


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"demo: the hub exited early (code {proc.returncode}); see its log above")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"demo: the hub did not answer on {url}/healthz within {timeout_s:.0f} s")


def hub_settings(work: Path, token_file: Path, broker_port: int, api_port: int) -> dict:
    """The demo hub's config: everything it writes, the phone's SMS outbox included, lives in ``work``."""
    return {
        "database_url": f"sqlite:///{work / 'hub.sqlite'}",
        "admin_token_file": str(token_file),
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "client_id": "hub-demo"},
        "api": {"host": "127.0.0.1", "port": api_port},
        "auth": {"cookie_secure": False},  # the demo dashboard is plain HTTP on 127.0.0.1
        "phone": {"sms_outbox": str(work / "sms-outbox.jsonl")},  # activation codes land here, not in an SMS
    }


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=Path, default=Path(os.environ.get("FACES") or DEFAULT_FACES),
                        help="folder with one subfolder of photos per person (default ../shared/faces/dev)")
    parser.add_argument("--keep", action="store_true", help="leave the hub and broker running until Ctrl-C")
    parser.add_argument("--screens", type=Path, default=Path("demo-screens"),
                        help="where the kiosk's screens are saved as PNGs (kept after the demo; default ./demo-screens)")
    args = parser.parse_args(argv)

    faces: Path = args.faces
    if not faces.is_dir():
        print(f"demo: no faces folder at {faces}.\n"
              "  Give one with one subfolder per person (the folder name is the staff number),\n"
              "  each holding a few clear photos of that person's face, e.g.:\n"
              "    make demo FACES=/path/to/people      (people/E1001/1.jpg, people/E1001/2.jpg, ...)",
              file=sys.stderr)
        return 2

    plan = plan_people(faces)
    work = Path(tempfile.mkdtemp(prefix="attendance-demo-"))
    hub_proc: subprocess.Popen | None = None
    broker = MosquittoProcess(work / "mosquitto")
    try:
        enrol_dir, frames_dir = link_tree(plan, work)
        try:
            broker.start()
        except BrokerError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 2
        print(f"[demo] Mosquitto on 127.0.0.1:{broker.port}; working in {work}")

        token_file = work / "admin.token"
        token_file.write_text(secrets.token_urlsafe(32))
        token_file.chmod(0o600)
        api_port = free_port()
        hub_cfg = write_yaml(work / "hub.yaml", hub_settings(work, token_file, broker.port, api_port))
        run([tool("hub"), "init-db", "--config", str(hub_cfg)], "hub init-db")
        admin_password = run([tool("hub"), "admin", "create", "--config", str(hub_cfg), "demo-admin"],
                             "hub admin create").strip().splitlines()[-1]
        run([tool("hub"), "site", "add", "--config", str(hub_cfg), SITE_ID, "--name", "Demo office"], "hub site add")
        phone_user = next(iter(plan.enrol))  # given a mobile number, so the phone page can be activated
        run([tool("hub"), "employee", "add", "--config", str(hub_cfg), phone_user, "--name", phone_user.replace("_", " "),
             "--site", SITE_ID, "--mobile", PHONE_MOBILE], "hub employee add")
        print(f"[demo] enrolling {len(plan.enrol)} people from {faces} (about 0.15 s per photo) ...")
        # the demo's people stand for staff who signed the paper consent form
        enrol_out = run([tool("hub"), "enrol", "--config", str(hub_cfg), "--site", SITE_ID, "--consent-given",
                         str(enrol_dir)], "hub enrol")
        print("\n".join("         " + line for line in enrol_out.strip().splitlines()[-4:]))

        hub_url = f"http://127.0.0.1:{api_port}"
        hub_proc = subprocess.Popen([tool("hub"), "run", "--config", str(hub_cfg)],
                                    stdout=open(work / "hub.log", "w"), stderr=subprocess.STDOUT)
        wait_healthy(hub_url, hub_proc)
        print(f"[demo] hub up at {hub_url} (log {work / 'hub.log'})")

        key_file = work / "kiosk" / "device.key"
        keygen_out = run([tool("kiosk"), "keygen", "--out", str(key_file)], "kiosk keygen")
        public_key = keygen_out.split()[-1]
        headers = {"Authorization": f"Bearer {token_file.read_text()}"}
        reg = httpx.post(f"{hub_url}/api/v1/devices", headers=headers, timeout=10,
                         json={"device_id": DEVICE_ID, "site_id": SITE_ID, "public_key": public_key})
        if reg.status_code != 201:
            raise SystemExit(f"demo: registering the kiosk failed: {reg.status_code} {reg.text}")

        screens = prepare_screens(args.screens)
        kiosk_cfg = write_yaml(work / "kiosk.yaml", kiosk_settings(work, key_file, broker.port, frames_dir, screens))
        print(f"[demo] kiosk {DEVICE_ID} replaying {len(plan.probes)} people "
              f"({sum(p[2] for p in plan.probes)} enrolled, {sum(not p[2] for p in plan.probes)} not enrolled), {REPEAT} frames each, liveness off (still photos) ...")
        kiosk_out = run([tool("kiosk"), "run", "--config", str(kiosk_cfg), "--exit-when-done",
                         "--wait-gallery-s", "60", "--drain-timeout-s", "60", "--summary-json"], "kiosk run")
        summary = json.loads(kiosk_out.strip().splitlines()[-1])

        stored = httpx.get(f"{hub_url}/api/v1/punches", params={"limit": 1000}, headers=headers, timeout=10).json()
        punches = stored["items"] if isinstance(stored, dict) else stored
        report(summary, punches, plan, hub_url)
        report_screens(screens)
        print(f"  phone page             {hub_url}/phone/  (activate staff number {phone_user}; the SMS code lands in"
              f" {work / 'sms-outbox.jsonl'})")
        print(f"  dashboard              {hub_url}/dashboard/  (user demo-admin, one-time password {admin_password};"
              " it asks for a new one)")
        for page, what in CONSOLE_PAGES:
            print(f"                         {hub_url}/dashboard/#/{page:<8} {what}")
        if not args.keep:
            print("                         the hub stops now; `make demo KEEP=1` keeps it (and the dashboard) up")
        if args.keep:
            print(f"[demo] --keep: hub at {hub_url} (token in {token_file}); Ctrl-C to stop")
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return 0
    finally:
        stop(hub_proc)
        broker.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        print("[demo] stopped the hub and the broker")


FPS, REPEAT = 4, 6


def kiosk_settings(work: Path, key_file: Path, broker_port: int, frames_dir: Path, screens: Path) -> dict:
    """The demo kiosk's config: replayed photos, and its screen saved as PNGs (one per change) in ``screens``."""
    return {
        "device_id": DEVICE_ID,
        "site_id": SITE_ID,
        "state_dir": str(work / "kiosk"),
        "signing_key_file": str(key_file),
        "mqtt": {"host": "127.0.0.1", "port": broker_port},
        # Six frames per person at 4 fps: 1.5 s in front of the camera, as at a real terminal
        # (three agreeing frames decide, then a one-second rest before the next person).
        "camera": {"kind": "replay", "path": str(frames_dir), "fps": FPS, "repeat": REPEAT},
        "liveness": {"mode": "off"},  # still photos cannot blink: liveness is shown by its own tests
        "clock": {"require_sync": False},  # a bench, not a kiosk: its clock need not be NTP-synchronised
        # The screen as the person at the kiosk would see it, in Hindi and English. A result stays up
        # 1 s of frame time here (3 s on a kiosk) so each person's screen is saved before the next one's.
        "languages": ["hi", "en"],
        "screen": {"backend": "file", "folder": str(screens), "site_name": "Demo office", "result_hold_s": 1.0},
        "voice": {"enabled": False},  # a build machine has no loudspeaker; tests play the clips into a fake sink
    }


def prepare_screens(folder: Path) -> Path:
    """An empty ``folder`` for this run's screens (the PNGs of an earlier demo are removed)."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def report_screens(folder: Path) -> None:
    shots = sorted(folder.glob("*.png"))
    kinds = sorted({p.stem.split("-", 1)[1] for p in shots if "-" in p.stem})
    print(f"  kiosk screens          {len(shots)} PNGs in {folder}/ (kept after the demo): {', '.join(kinds) or '-'}")


def report(summary: dict, punches: list[dict], plan: Plan, hub_url: str) -> None:
    enrolled_probes = {p[0] for p in plan.probes if p[2]}
    names = sorted(p["employee_id"] for p in punches)
    wrong = [n for n in names if n not in enrolled_probes]
    print()
    print("What happened")
    print(f"  frames seen            {summary.get('frames')} ({summary.get('analysed')} analysed; the others fell"
          " in the one-second rest after each decision)")
    print(f"  faces found            in {summary.get('faces')} of the analysed frames")
    print(f"  recognised / unknown   {summary.get('recognised')} / {summary.get('unknown')} people"
          f"  (uncertain: {summary.get('uncertain', 0)}, repeat punches suppressed: {summary.get('suppressed', 0)})")
    print(f"  punches sent           {summary.get('punches_created')} (acked by the hub: {summary.get('punches_acked')},"
          f" still in the kiosk outbox: {summary.get('outbox_depth')})")
    print(f"  punches stored at hub  {len(punches)}: {', '.join(names) or '-'}")
    print(f"  enrolled people shown  {len(enrolled_probes)}; recognised {len(set(names) & enrolled_probes)}")
    print(f"  wrongly named          {len(wrong)}{': ' + ', '.join(wrong) if wrong else ''}"
          f"{'  (a look-alike of someone enrolled; rates in BENCHMARKS.md, accuracy)' if wrong else ''}")
    print(f"  hub                    {hub_url}  (GET /healthz, /api/v1/punches with the admin token)")


if __name__ == "__main__":
    sys.exit(main())
