"""``kiosk``: check the config, make the device key, run the kiosk, preview its screens, build its voice
clips, benchmark it on the device.

Errors are one line on stderr naming the file and key, and a non-zero exit.
An error that ends ``kiosk run`` is also kept in the state directory and
reported as a ``last_exit`` alarm by the next run.
"""

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path

# One BLAS thread: 1:N matching is memory-bound, and a second thread only waits
# for the core the camera and dlib hold (BENCHMARKS.md, match speed: 4.3 ms
# against 10.2 ms for 100k people). Set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from hardware.camera import CameraError  # noqa: E402
from kiosk import __version__  # noqa: E402
from kiosk.alarms import record_last_exit  # noqa: E402
from kiosk.config import ENV_PREFIX, CameraConfig, KioskConfig  # noqa: E402
from kiosk.storage import StorageError  # noqa: E402
from protocol import signing  # noqa: E402
from protocol.logs import setup_logging  # noqa: E402
from protocol.settings import ConfigError, load_config, read_secret  # noqa: E402
from protocol.transport import mode_line  # noqa: E402

log = logging.getLogger("kiosk")

DEFAULT_CONFIG = Path("/etc/kiosk/kiosk.yaml")


def make_camera(camera: CameraConfig, *, pace: bool = True):
    """The configured frame source, paired with the IR camera when there is one; live cameras behind a
    newest-frame grabber (no growing lag), which takes the pair as one source."""
    from hardware.latest_frame import LatestFrameGrabber

    if camera.kind == "replay":
        from hardware.replay import ReplayCamera

        if camera.path is None:
            raise ConfigError(Path("camera.path"), ["camera.path: a replay camera needs a folder or video file"])
        source = ReplayCamera(camera.path, fps=camera.fps, repeat=camera.repeat, loop=camera.loop, pace=pace)
    elif camera.kind == "opencv":
        from hardware.opencv_camera import OpenCvCamera

        source = OpenCvCamera(camera.path and str(camera.path) or camera.device, camera.width, camera.height,
                              camera.fps)
    else:
        from hardware.picamera2_camera import Picamera2Camera

        source = Picamera2Camera(camera.width, camera.height, camera.fps)
    if camera.ir.kind != "none":
        from hardware.ir_camera import IrPairedCamera

        source = IrPairedCamera(source, make_ir_camera(camera), camera.ir.max_skew_s)
    return source if camera.kind == "replay" else LatestFrameGrabber(source)


def make_ir_camera(camera: CameraConfig):
    """The IR camera of ``camera.ir`` (a replay at the colour camera's rate, read in step with it)."""
    ir = camera.ir
    if ir.kind == "replay":
        from hardware.replay import ReplayCamera

        if ir.path is None:
            raise ConfigError(Path("camera.ir.path"), ["camera.ir.path: an IR replay needs a folder or video file"])
        return ReplayCamera(ir.path, fps=camera.fps, repeat=camera.repeat, loop=camera.loop, pace=False)
    if ir.kind == "opencv":
        from hardware.opencv_camera import OpenCvCamera

        return OpenCvCamera(ir.device, ir.width, ir.height, camera.fps)
    if ir.kind == "picamera2":
        from hardware.picamera2_camera import Picamera2Camera

        return Picamera2Camera(ir.width, ir.height, camera.fps, camera_num=ir.camera_num)
    raise ValueError(f"no IR camera configured (camera.ir.kind {ir.kind})")


def ir_line(config: KioskConfig) -> str:
    """What ``check-config`` says about the infrared liveness check."""
    ir, cam = config.liveness.ir, config.camera.ir
    if not ir.enabled:
        return "liveness.ir: off" + (f" (camera.ir {cam.kind} is set but not used)" if cam.kind != "none" else "")
    where = {"replay": f"replay {cam.path}", "opencv": f"opencv device {cam.device}",
             "picamera2": f"picamera2 camera {cam.camera_num}"}[cam.kind]
    glint = f"glint in >= {ir.min_glint_share:.0%} of frames" if ir.min_glint_share > 0 else "glint cue off"
    return (f"liveness.ir: on, {where} {cam.width}x{cam.height}; refuse face level < {ir.min_face_level:g}, "
            f"relief < {ir.min_relief:g}; {glint}; thresholds unvalidated without IR data (hardware/README.md)")


def make_feedback(config: KioskConfig):
    from hardware.indicators import Indicators, NullIndicators

    return NullIndicators() if config.indicators is None else Indicators(config.indicators)


def cmd_check_config(args: argparse.Namespace) -> int:
    args.config = args.config or args.config_path or DEFAULT_CONFIG
    config = load_config(args.config, KioskConfig, env_prefix=ENV_PREFIX)
    problems = []
    if not config.signing_key_file.exists():
        problems.append(f"signing_key_file: {config.signing_key_file} does not exist (run `kiosk keygen`)")
    else:
        try:
            signing.load_private_key(config.signing_key_file)
        except (OSError, ValueError) as exc:
            problems.append(f"signing_key_file: {exc}")
    if config.mqtt.password_file is not None:
        try:
            read_secret(config.mqtt.password_file, "MQTT password")
        except ConfigError as exc:
            problems += [f"mqtt.password_file: {p}" for p in exc.problems]
    if config.camera.kind == "replay" and (config.camera.path is None or not config.camera.path.exists()):
        problems.append(f"camera.path: {config.camera.path} does not exist (a replay camera needs it)")
    if config.camera.ir.kind == "replay" and not config.camera.ir.path.exists():
        problems.append(f"camera.ir.path: {config.camera.ir.path} does not exist (an IR replay needs it)")
    if problems:
        raise ConfigError(args.config, problems)
    print(f"{args.config}: {mode_line(config.mqtt)}")
    print(f"{args.config}: {ir_line(config)}")
    if config.voice.enabled:
        from kiosk.voice.clips import clips_line

        print(f"{args.config}: {clips_line(config.voice.clips_dir, config.languages)}")
    print(f"{args.config}: ok")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.force:
        print(f"kiosk: {args.out} exists; refusing to replace a device key (it is registered at the hub). "
              "Use --force to make a new one and re-register.", file=sys.stderr)
        return 1
    key = signing.generate_private_key()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    signing.write_private_key(key, args.out)
    print(f"wrote {args.out}; public key (register it at the hub):")
    print(signing.public_key_b64(key))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from kiosk.app import KioskApp, RunOptions
    from kiosk.ui import build_ui

    config = load_config(args.config, KioskConfig, env_prefix=ENV_PREFIX)
    ui = None
    try:
        ui = build_ui(config, headless=args.headless)
        app = KioskApp(config, make_camera(config.camera), make_feedback(config), display=ui.screen)
        ui.bind(connected=app.link.connected.is_set)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: app.stop())
        summary = app.run(RunOptions(args.exit_when_done, args.wait_gallery_s, args.drain_timeout_s))
    except Exception as exc:
        record_last_exit(config.state_dir, exc)
        raise
    finally:
        if ui is not None:
            ui.close()
    if args.summary_json:
        print(json.dumps(summary, sort_keys=True))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from kiosk.screen.preview_cli import preview

    for path in preview(args):
        print(path)
    return 0


def cmd_voices_build(args: argparse.Namespace) -> int:
    from kiosk.voice.clips import build_clips

    langs = args.lang or (load_config(args.config, KioskConfig).languages if args.config else ["hi", "en"])
    made, kept = build_clips(args.out, langs, overwrite=args.force)
    print(f"{args.out}: {len(made)} clips made, {len(kept)} kept (recorded or made before) in {', '.join(langs)}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.liveness:
        from kiosk.bench import run_liveness_bench

        print(run_liveness_bench(args.frames, args.config, modes=tuple(args.modes.split(",")),
                                 enrol=args.enrol, windows=args.window, cpu_time=args.cpu_time).text())
        return 0
    from kiosk.bench import run_bench

    report = run_bench(args.frames, args.config, width=args.width, height=args.height, repeat=args.repeat)
    print(report.text())
    return 0


def cmd_assisted(args: argparse.Namespace) -> int:
    """List the assisted attempts waiting for review, or mark some reviewed (kiosk/assisted.py)."""
    from kiosk.assisted import SNAPSHOT_DIR, AssistedLog

    config = load_config(args.config, KioskConfig)
    log = AssistedLog(config.state_dir)
    log.open()
    try:
        if args.action == "done":
            print(f"{log.mark_reviewed(args.ids)} marked reviewed")
            return 0
        for r in log.pending():
            photo = config.state_dir / SNAPSHOT_DIR / r.snapshot if r.snapshot else "no snapshot"
            distance = "no face checked" if r.distance is None else f"distance {r.distance:.3f}"
            print(f"{r.id}  {r.ts}  staff number {r.claimed_id}{'' if r.known else ' (not in the gallery)'}  "
                  f"{distance}  liveness {'passed' if r.liveness_passed else 'not passed'}  {photo}")
    finally:
        log.close()
    return 0


def span(text: str) -> tuple[float, float]:
    """``"5.0-5.75"`` -> (5.0, 5.75) seconds."""
    start, sep, end = text.partition("-")
    try:
        pair = (float(start), float(end))
    except ValueError:
        pair = None
    if not sep or pair is None or not pair[0] < pair[1]:
        raise argparse.ArgumentTypeError(f"not START-END seconds: {text!r}")
    return pair


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kiosk {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check-config", help="validate kiosk.yaml and the files it names")
    p.add_argument("config_path", nargs="?", type=Path, metavar="CONFIG", help=f"default {DEFAULT_CONFIG}")
    p.add_argument("--config", type=Path, default=None, help="the same, as an option")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("keygen", help="make the device's Ed25519 signing key; prints the public key last")
    p.add_argument("--out", type=Path, required=True, help="where to write the private key (PEM, mode 0600)")
    p.add_argument("--force", action="store_true", help="replace an existing key")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("run", help="run the kiosk")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--exit-when-done", action="store_true", help="stop when a replay camera runs out of frames")
    p.add_argument("--wait-gallery-s", type=float, default=0.0,
                   help="before the first frame, wait this long for the hub's gallery")
    p.add_argument("--drain-timeout-s", type=float, default=0.0,
                   help="at the end, wait this long for every punch to be acked")
    p.add_argument("--summary-json", action="store_true", help="print the summary as one JSON line")
    p.add_argument("--headless", action="store_true", help="no window even when display: true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("preview", help="render a kiosk screen without a camera, e.g. --state accepted --lang hi")
    from kiosk.screen.preview_cli import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("voices", help="voice clips for the kiosk's prompts")
    voices = p.add_subparsers(dest="voices_command", required=True)
    p = voices.add_parser("build", help="make a WAV clip of every fixed prompt in each language with espeak-ng")
    p.add_argument("--out", type=Path, required=True, help="clips folder (voice.clips_dir), <lang>/<key>.wav")
    p.add_argument("--lang", action="append", help="a language (repeat); default: the config's, else hi and en")
    p.add_argument("--config", type=Path, default=None, help="kiosk.yaml whose languages to use")
    p.add_argument("--force", action="store_true", help="replace existing clips (also recorded ones)")
    p.set_defaults(func=cmd_voices_build)

    p = sub.add_parser("bench", help="time each pipeline stage on sample frames (on the device itself)")
    p.add_argument("frames", type=Path, help="a folder of images or a video file")
    p.add_argument("--config", type=Path, default=None, help="kiosk.yaml for thresholds and pipeline settings")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--repeat", type=int, default=6, help="frames per still image (4 fps: 6 = 1.5 s)")
    p.add_argument("--liveness", action="store_true",
                   help="FRAMES is a video of one live person: time from the first face to the decision, with "
                        "liveness, in windows of it (kiosk/decision_bench.py)")
    p.add_argument("--modes", default="off,blink", help="--liveness: liveness modes to time, comma-separated")
    p.add_argument("--enrol", type=span, action="append", default=None, metavar="START-END",
                   help="--liveness: seconds of the video to enrol the person from (repeatable; default: the "
                        "eyes-open stretches of ../shared/faces/video/blink-1.mp4)")
    p.add_argument("--window", type=span, action="append", default=None, metavar="START-END",
                   help="--liveness: a stretch in which the person steps up at START (repeatable)")
    p.add_argument("--cpu-time", action="store_true",
                   help="--liveness: count the pipeline thread's CPU time, not elapsed time (a machine shared "
                        "with other work; on the kiosk itself leave it off)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("assisted", help="staff-number attempts whose face did not match: list, or mark reviewed")
    p.add_argument("action", choices=["list", "done"])
    p.add_argument("ids", nargs="*", help="done: the attempt ids reviewed")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.set_defaults(func=cmd_assisted)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{exc.path}: {problem}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"kiosk: the state directory cannot be used: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError, CameraError) as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
