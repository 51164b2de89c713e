"""Shared helpers of the benchmarks: the photo sets, an encoding cache, report lines.

Every photo is detected, encoded and landmarked once; the result is cached
under ``benchmarks/.cache`` keyed by the file's sha256 and the encoder's
settings, so a rerun takes seconds. The cache holds encodings and landmarks
of the shared test photos only (no pixels) and is git-ignored.
"""

import argparse
import hashlib
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from biometrics.encoder import FaceBox, FaceEncoder, dlib_build, load_image_rgb

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FACES = (REPO.parent / "shared" / "faces").resolve()
DEFAULT_CACHE = REPO / "benchmarks" / ".cache"
CACHE_FORMAT = 1


@dataclass(frozen=True)
class FaceRecord:
    """One photo: where it is, whose it is, and what the encoder made of it."""

    path: Path
    name: str                    # "<Identity>/<n>.jpg", for reports
    identity: str
    sha256: str
    image_size: tuple[int, int]  # (width, height)
    faces_found: int             # at the upsample that found any
    upsample: int                # 1, or 2 when 1 found nothing
    box: FaceBox | None          # the largest face
    encoding: np.ndarray | None  # (128,) float32
    landmarks: np.ndarray | None  # (68, 2) float32

    @property
    def has_face(self) -> bool:
        return self.encoding is not None


def faces_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="the shared faces folder (has dev/)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="encoding cache folder")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def list_photos(root: Path) -> list[Path]:
    """``root/<label>/<file>.jpg`` in a stable order (label, then number)."""

    def key(p: Path) -> tuple[str, int, str]:
        return (p.parent.name, int(p.stem) if p.stem.isdigit() else 0, p.name)

    return sorted((p for p in root.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")), key=key)


def _cache_file(cache_dir: Path, sha: str, encoder: FaceEncoder) -> Path:
    build = dlib_build().replace(" ", "_").replace("(", "").replace(")", "")
    return cache_dir / f"{sha[:32]}-u{encoder.upsample}-j{encoder.num_jitters}-{build}-v{CACHE_FORMAT}.npz"


def _analyse(rgb: np.ndarray, encoder: FaceEncoder) -> dict:
    upsample = encoder.upsample
    boxes = encoder.detect(rgb, upsample)
    if not boxes:
        upsample = upsample + 1
        boxes = encoder.detect(rgb, upsample)
    out = {"faces_found": len(boxes), "upsample": upsample}
    if boxes:
        box = boxes[0]
        out["box"] = np.array([box.left, box.top, box.right, box.bottom], dtype=np.int64)
        out["encoding"] = encoder.encode(rgb, box)
        out["landmarks"] = encoder.landmarks68(rgb, box)
    return out


def load_record(path: Path, root: Path, encoder: FaceEncoder, cache_dir: Path) -> FaceRecord:
    """Analyse one photo, or read the cached analysis of identical bytes."""
    sha = sha256_of(path)
    cached = _cache_file(cache_dir, sha, encoder)
    rgb = None
    if cached.is_file():
        with np.load(cached) as z:
            data = {k: z[k] for k in z.files}
    else:
        rgb = load_image_rgb(path)
        data = _analyse(rgb, encoder)
        data["image_size"] = np.array([rgb.shape[1], rgb.shape[0]], dtype=np.int64)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npz")
        np.savez(tmp, **data)
        os.replace(tmp, cached)
    box = FaceBox(*(int(v) for v in data["box"])) if "box" in data else None
    return FaceRecord(
        path=path,
        name=str(path.relative_to(root)),
        identity=path.parent.name,
        sha256=sha,
        image_size=(int(data["image_size"][0]), int(data["image_size"][1])),
        faces_found=int(data["faces_found"]),
        upsample=int(data["upsample"]),
        box=box,
        encoding=data.get("encoding"),
        landmarks=data.get("landmarks"),
    )


def cached_arrays(cache_dir: Path, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()``'s arrays, computed once per ``key`` and kept under ``cache_dir``.

    For derived results (landmarks of simulated attack frames) that cost
    seconds per photo; ``key`` must name everything they depend on. The dlib
    build and the cache format are added here.
    """
    build = dlib_build().replace(" ", "_").replace("(", "").replace(")", "")
    path = cache_dir / f"{key}-{build}-v{CACHE_FORMAT}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    data = compute()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **data)
    os.replace(tmp, path)
    return data


def load_set(root: Path, cache_dir: Path = DEFAULT_CACHE, encoder: FaceEncoder | None = None) -> list[FaceRecord]:
    """Every photo under ``root/<label>/`` analysed (from the cache when possible)."""
    encoder = encoder or FaceEncoder(upsample=1, num_jitters=1)
    photos = list_photos(root)
    started = time.perf_counter()
    records = [load_record(p, root, encoder, cache_dir) for p in photos]
    log.info("%s: %d photos analysed in %.1f s", root, len(records), time.perf_counter() - started)
    return records


def report_parser(doc: str, out_name: str) -> argparse.ArgumentParser:
    """The options of a benchmark over the shared photos that writes one BENCHMARKS-*.md part."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES)
    parser.add_argument("--out", type=Path, default=REPO / out_name)
    return parser


def write_report(out: Path, lines: list[str]) -> None:
    """Write a BENCHMARKS-*.md part (``python -m benchmarks.collect`` gathers them) and show it."""
    text = "\n".join(lines)
    out.write_text(text)
    print(text)


def require_dir(path: Path, what: str) -> bool:
    """True when ``path`` is a folder; otherwise print why the benchmark is skipped."""
    if path.is_dir():
        return True
    print(f"SKIPPED: {what} not found at {path} (the shared faces folder is absent; pass --faces)")
    return False


def environment_lines(module: str) -> list[str]:
    """What ran: the command, dlib build, library versions, CPU count (for BENCHMARKS.md)."""
    import cv2

    args = " ".join(sys.argv[1:])
    return [
        f"- command: `python -m {module}{' ' + args if args else ''}`",
        f"- {dlib_build()}; OpenCV {cv2.__version__}; NumPy {np.__version__}; "
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs (shared)",
    ]


def pct(num: int, den: int, digits: int = 2) -> str:
    """``"1.23% (5/406)"``; ``"n/a (0/0)"`` for an empty denominator."""
    if den == 0:
        return "n/a (0/0)"
    return f"{100.0 * num / den:.{digits}f}% ({num}/{den})"


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
