"""Liveness from 68-point landmarks over time: a blink, a head turn, or both in a random order.

Pure logic: callers pass timestamps, the landmarks ``FaceEncoder.landmarks68``
found on each frame of one tracked face and, for the pixel cues, the frame;
nothing here touches a camera or dlib.

What these checks stop, and what they do not (BENCHMARKS-liveness.md has
the rates, measured on forgeries built from photos of unseen people):

- A still picture never blinks and never turns its head, so it never
  passes. Frames that do not change *in their pixels* outside the eyes
  (injected or replayed frames, a frozen camera, a still with painted eyes
  swapped in) are flagged ``still_image`` (``kiosk.liveness.pixels``); the
  landmarks alone cannot tell, because the kiosk re-detects the face box on
  every frame and the landmarks move with it. A print in front of a real
  camera is *not* caught by that: sensor noise moves every pixel.
- Tilting a printed photo foreshortens it and lowers the eye aspect ratio
  like a blink would; a blink is therefore counted only when the face's own
  proportions (eye line to mouth, against eye distance) stay put while the
  eyes close, and only when the eyebrows do not come down with the lids (a
  print folded back along the eyes).
- A photo alternated with a copy whose eyes are painted shut closes and
  opens its "eyes" in one frame each way; real lids rise more slowly than
  they fall, so a blink must show a half-open frame on the way up
  (``blink_require_rising``), and, where the pixels are given, the closed
  eye must keep a lash line (``blink_min_lash_ratio``).
- Turning a photo about its vertical axis fools solvePnP into a head turn;
  the turn counts only with the nose parallax a real head shows, on several
  frames; a bent or curved print shows it on the odd frame, and its pose
  estimate tends to flip, which now fails the attempt.
- ``blink_and_head_turn`` (the default) asks for both, in an order drawn
  per attempt, each counted only after its own prompt
  (``kiosk.liveness.challenge``): the props that fake one do not fake the
  other.
- A *video* of the person (phone or tablet replay) blinks and turns like the
  person: these checks do not stop it. That needs a passive texture/depth cue
  or hardware: with a NoIR camera and an 850 nm illuminator, ``ir.enabled``
  adds the infrared check of ``kiosk.liveness.ir`` (a screen is dark in IR,
  most prints flat; unvalidated without the hardware), see BENCHMARKS-liveness.md.

The package: ``config`` (the per-site settings), ``checker`` (the mode
applied to one tracked face), ``blink`` and ``turn`` (the two actions),
``challenge`` (both, in a random order), ``geometry`` (what is measured on
68 landmarks), ``pixels`` and ``ir`` (cues from the frames themselves),
``burst`` (the same checks on a phone's burst of frames, at the hub).
"""

from kiosk.liveness.checker import PROMPTS, LivenessChecker
from kiosk.liveness.config import LivenessConfig, Mode
from kiosk.liveness.state import LivenessState, liveness_info

__all__ = ["PROMPTS", "LivenessChecker", "LivenessConfig", "LivenessState", "Mode", "liveness_info"]
