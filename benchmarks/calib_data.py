"""The calibration photos run through the code that ships, split into a tuning and a reporting half.

``../shared/faces/calib`` holds 846 people with 2-5 photos and 1,500
one-photo strangers (LFW, disjoint from ``dev/``). Every photo goes through

- the hub's enrolment path (``hub.enrol.encode_photo`` with the shipped
  ``EnrolmentConfig`` limits): a template, or a refusal; and
- the kiosk's frame path (``kiosk.pipeline.FrameAnalyzer.analyze`` with the
  shipped pipeline, detector and quality settings, one fresh analyser per
  photo, as a single frame of a new person): a probe encoding, or the
  quality gate's refusal.

No retry at a higher upsample, no gate skipped: a photo the kiosk would not
encode is a probe that is not named. dlib's answers are memoised on disk by
``benchmarks.encoder_cache`` (encoding everything costs ~8 min of CPU once).

The split is fixed before any number is looked at: an identity belongs to
the tuning half when the first byte of the sha256 of its name is even,
otherwise to the reporting half; strangers the same way. Thresholds are
chosen on the tuning half only.
"""

import csv
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.encoder_cache import CachingEncoder
from biometrics.encoder import load_image_rgb
from biometrics.matcher import Gallery, MatchThresholds
from hub.config import EnrolmentConfig
from hub.enrolment.enrol import encode_photo
from kiosk.config import RecognitionConfig
from kiosk.pipeline import FrameAnalyzer, PipelineConfig
from kiosk.quality import QualityConfig

log = logging.getLogger(__name__)

HALVES = ("tune", "report")


def half_of(identity: str) -> str:
    """The fixed half an identity belongs to (never chosen by looking at results)."""
    return HALVES[hashlib.sha256(identity.encode()).digest()[0] % 2]


@dataclass
class CalibSet:
    """Per photo (people first, then strangers): who, which half, template and probe (NaN rows when refused)."""

    files: list[str]
    identity: np.ndarray      # (n,) str
    stranger: np.ndarray      # (n,) bool: a one-photo stranger, never enrolled
    half: np.ndarray          # (n,) "tune" | "report"
    template: np.ndarray      # (n, 128) float64, NaN where the hub refused the photo
    probe: np.ndarray         # (n, 128) float64, NaN where the kiosk's gate refused the frame
    enrol_refusal: list[str]  # "" when accepted
    gate_refusal: list[str]   # "" when passed

    @property
    def has_template(self) -> np.ndarray:
        return ~np.isnan(self.template[:, 0])

    @property
    def has_probe(self) -> np.ndarray:
        return ~np.isnan(self.probe[:, 0])


def read_manifest(calib: Path) -> list[tuple[str, str, str]]:
    """(identity, role, file) rows of ``calib/MANIFEST.tsv`` in file order."""
    with open(calib / "MANIFEST.tsv", newline="") as f:
        return [(r["identity"], r["role"], r["file"]) for r in csv.DictReader(f, delimiter="\t")]


def probe_of(analyzer_args: tuple, encoder: CachingEncoder, rgb: np.ndarray) -> tuple[np.ndarray | None, str]:
    """The kiosk's single-frame probe for ``rgb``: (encoding, "") or (None, the gate's first blocking issue)."""
    analyzer = FrameAnalyzer(encoder, *analyzer_args)
    encoder.last_encoding = None
    obs = analyzer.analyze(0.0, rgb, Gallery({}))
    if obs.face is None:
        return None, "no_face"
    if obs.quality is None or not obs.quality.ok:
        first = obs.quality.instruction if obs.quality is not None else None
        return None, first.code if first is not None else "gate"
    return encoder.last_encoding, ""


def load_calib(faces: Path, encoder: CachingEncoder | None = None,
               enrolment: EnrolmentConfig | None = None, quality: QualityConfig | None = None) -> CalibSet:
    """Every calib photo through the hub's enrolment and the kiosk's frame path (shipped settings by default)."""
    calib = faces / "calib"
    rows = read_manifest(calib)
    recognition = RecognitionConfig()
    encoder = encoder or CachingEncoder(upsample=recognition.detect_upsample)
    enrolment = enrolment or EnrolmentConfig()
    analyzer_args = (MatchThresholds(recognition.accept_distance, recognition.min_margin), quality or QualityConfig(),
                     PipelineConfig(), recognition.detect_upsample)
    n = len(rows)
    template = np.full((n, 128), np.nan)
    probe = np.full((n, 128), np.nan)
    enrol_refusal, gate_refusal = [""] * n, [""] * n
    for i, (identity, role, file) in enumerate(rows):
        path = calib / file
        if role == "people":
            data, note = encode_photo(encoder, path, enrolment)
            if data is None:
                enrol_refusal[i] = note
            else:
                template[i] = np.frombuffer(data, dtype="<f4")
        enc, why = probe_of(analyzer_args, encoder, load_image_rgb(path))
        if enc is None:
            gate_refusal[i] = why
        else:
            probe[i] = enc
        if i % 500 == 0:
            log.info("calib: %d/%d photos (dlib cache %d hits, %d computed)", i, n, encoder.hits, encoder.misses)
    identity = np.array([r[0] for r in rows])
    return CalibSet([r[2] for r in rows], identity, np.array([r[1] == "strangers" for r in rows]),
                    np.array([half_of(x) for x in identity]), template, probe, enrol_refusal, gate_refusal)
