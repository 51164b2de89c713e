"""How small a face the kiosk can still name: the evidence for ``quality.min_face_px``.

Each dev photo with a face is shrunk so its face box is S pixels high,
encoded there, and matched 1:N (shipped thresholds) against a gallery of
everyone's *other* photos at full size, as in ``benchmarks.accuracy``'s
kiosk case. The face height the quality gate measures from the 68
landmarks (``kiosk.quality.face_height_px``) is reported beside S, so the
gate's pixels mean the same as the detector's box.

Run: ``python -m benchmarks.face_size`` (about 3 minutes on two cores with
the dlib-bin wheel). Writes BENCHMARKS-face-size.md.
"""

import sys

import cv2
import numpy as np

from benchmarks.common import environment_lines, load_set, markdown_table, pct, report_parser, require_dir, write_report
from biometrics.encoder import FaceBox, FaceEncoder, load_image_rgb
from biometrics.matcher import Gallery, MatchThresholds, match
from kiosk.quality import QualityConfig, face_height_px

SIZES = (50, 60, 64, 70, 80, 90)


def shrunk(rgb: np.ndarray, box: FaceBox, height: int) -> tuple[np.ndarray, FaceBox]:
    f = height / box.height
    small = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    return small, FaceBox(round(box.left * f), round(box.top * f), round(box.right * f), round(box.bottom * f))


def main(argv: list[str] | None = None) -> int:
    args = report_parser(__doc__, "BENCHMARKS-face-size.md").parse_args(argv)
    if not require_dir(args.faces / "dev", "faces/dev"):
        return 0
    records = [r for r in load_set(args.faces / "dev") if r.has_face]
    by_person: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_person.setdefault(r.identity, []).append(i)
    probes = [i for i, r in enumerate(records) if len(by_person[r.identity]) > 1]
    thresholds, encoder = MatchThresholds(), FaceEncoder()

    def gallery_without(i: int) -> Gallery:
        people = {p: [records[j].encoding for j in idx if j != i] for p, idx in by_person.items()}
        return Gallery({p: t for p, t in people.items() if t})

    galleries = {i: gallery_without(i) for i in probes}
    rows, ratios = [], []
    for size in (*SIZES, None):
        named = wrong = 0
        measured: list[float] = []
        for i in probes:
            r = records[i]
            if size is None:
                probe = r.encoding
                ratios.append(r.box.height / face_height_px(encoder.landmarks68(load_image_rgb(r.path), r.box)))
            else:
                small, box = shrunk(load_image_rgb(r.path), r.box, size)
                probe = encoder.encode(small, box)
                measured.append(face_height_px(encoder.landmarks68(small, box)))
            result = match(galleries[i], probe, thresholds)
            named += result.employee_id == r.identity
            wrong += result.employee_id not in (None, r.identity)
        label = "as photographed (median box %d px)" % np.median([records[i].box.height for i in probes]) \
            if size is None else f"{size} px"
        rows.append([label, f"{np.median(measured):.0f}" if measured else "-",
                     pct(named, len(probes)), wrong])
        print(rows[-1], flush=True)

    lo, mid, hi = np.percentile(ratios, [5, 50, 95])
    write_report(args.out, [
        "# Face size vs recognition (issue 6): the evidence for `quality.min_face_px`",
        "",
        *environment_lines("benchmarks.face_size"),
        f"- {len(probes)} dev photos of people with 2+ photos; each shrunk so the face box is S px high, encoded "
        f"there and matched 1:N against everyone's other photos at full size; shipped thresholds "
        f"(accept < {thresholds.accept_distance}, margin >= {thresholds.min_margin})",
        "",
        markdown_table(["face box height S", "gate's landmark measure (median px)", "named right", "named wrong"],
                       rows),
        "",
        f"Detector box height / the gate's landmark measure, photos as photographed: median {mid:.2f} "
        f"(5-95%: {lo:.2f}-{hi:.2f}), so the gate's pixels are the detector's.",
        f"The kiosk's gate: `min_face_px` = {QualityConfig().min_face_px}.",
        "",
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
