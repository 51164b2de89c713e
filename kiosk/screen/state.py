"""What the kiosk screen shows, as a state name plus parameters, and its texts from the catalogue.

The screen knows no sentences. A state ``name`` reads its headline from
``kiosk.state.<name>`` and its hint from ``kiosk.hint.<name>`` (if the
catalogue has one); a refusal reads ``kiosk.refused.<reason>`` and what to do
next from ``kiosk.next.<reason>``; a ``prompt`` key (``kiosk.prompt.blink``)
becomes the headline while checking. So a new state or refusal reason (the
keypad's "enter your staff number") is new catalogue keys, not new code.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from i18n.catalogue import FALLBACK, catalogue
from kiosk.decision import Outcome
from kiosk.messages import key_of

log = logging.getLogger(__name__)

# The colour family of each state; anything else is "neutral" (idle, keypad).
TONES: dict[str, str] = {
    "accepted": "good", "offline_saved": "good", "already": "notice",
    "refused": "bad", "checking": "busy", "verifying": "busy",
}
RESULT_STATES = ("accepted", "offline_saved", "already", "refused")   # held on screen for result_hold_s
# Detail rows: parameter -> label key, in the order shown.
DETAIL_ROWS = (("direction", "kiosk.label.direction"), ("employee_id", "kiosk.label.staff_number"),
               ("time", "kiosk.label.time"), ("site", "kiosk.label.site"))


@dataclass(frozen=True)
class ScreenState:
    """One screen: ``name`` (``kiosk.state.<name>``), a refusal ``reason``, a ``prompt`` key, and parameters
    (``name``, ``employee_id``, ``time``, ``site``, ``direction`` = "in"/"out", ...)."""

    name: str
    reason: str | None = None
    prompt: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def tone(self) -> str:
        return TONES.get(self.name, "neutral")

    @property
    def is_result(self) -> bool:
        return self.name in RESULT_STATES


@dataclass(frozen=True)
class ScreenTexts:
    """The words of one screen in one language."""

    lang: str
    title: str
    instruction: str | None
    details: tuple[tuple[str, str], ...]   # (label, value)


def _known(key: str) -> bool:
    return catalogue(FALLBACK).has(key)


def texts(state: ScreenState, lang: str) -> ScreenTexts:
    """The catalogue's words for ``state`` in ``lang`` (English for keys the language lacks)."""
    cat = catalogue(lang)
    params = dict(state.params)
    if "direction" in params:
        params["direction"] = cat.text(f"kiosk.direction.{params['direction']}")
    if state.name == "refused" and state.reason and _known(f"kiosk.refused.{state.reason}"):
        title = cat.text(f"kiosk.refused.{state.reason}", **params)
        hint_key = f"kiosk.next.{state.reason}"
    else:
        if state.name == "refused":
            log.warning("no catalogue text for refusal reason %r", state.reason)
        title = cat.text(f"kiosk.state.{state.name}", **params)
        hint_key = f"kiosk.hint.{state.name}"
    instruction = cat.text(hint_key, **params) if _known(hint_key) else None
    if state.prompt:
        title, instruction = cat.text(state.prompt, **params), title
    details = tuple((cat.text(label), params[param]) for param, label in DETAIL_ROWS
                    if params.get(param) and state.name != "verifying")
    return ScreenTexts(cat.lang, title, instruction, details)


# A refusal for running out of time says why, when the attempt's last prompt knew it.
SPECIFIC_REASONS = {
    "kiosk.quality.too_dark": "too_dark", "kiosk.quality.too_small": "too_far",
    "kiosk.prompt.face_too_small": "too_far", "kiosk.prompt.still_image": "not_live", "kiosk.prompt.pose_jump": "not_live",
}
VAGUE_REASONS = ("timeout", "liveness_failed")


def refined(state: ScreenState, last_prompt: str | None) -> ScreenState:
    """``refused: timeout`` after "too dark: move into the light" becomes ``refused: too_dark`` (and its
    advice); any other state is returned as it is."""
    if state.name != "refused" or state.reason not in VAGUE_REASONS or last_prompt not in SPECIFIC_REASONS:
        return state
    return ScreenState("refused", reason=SPECIFIC_REASONS[last_prompt], params=state.params)


@dataclass(frozen=True)
class Context:
    """What the screen needs beyond the decision: the site's name, whether the hub is reachable,
    and In/Out for a person (from ``DayBook``)."""

    site: str
    connected: Callable[[], bool] = lambda: True
    direction: Callable[[str], str | None] = lambda employee_id: None


def state_of(outcome: Outcome | None, face_seen: bool, context: Context) -> ScreenState:
    """The screen for a decision outcome (pure apart from the context's callables)."""
    if outcome is None or outcome.state in ("idle", "cooldown"):
        return ScreenState("checking") if face_seen else ScreenState("idle")
    prompt_params = dict(getattr(outcome.prompt, "params", {}) or {})
    if outcome.state == "checking":
        return ScreenState("checking", prompt=key_of(outcome.prompt))
    params = {k: str(v) for k, v in prompt_params.items()}
    if outcome.employee_id:
        params["employee_id"] = outcome.employee_id
    if outcome.state == "accepted":
        direction = context.direction(outcome.employee_id or "")
        params.update(site=context.site, **({"direction": direction} if direction else {}))
        return ScreenState("accepted" if context.connected() else "offline_saved", params=params)
    if outcome.state == "refused":
        return ScreenState("refused", reason=outcome.reason, params=params)
    # "already", and states added later (the keypad's "keypad", "verifying"): the name is the state
    return ScreenState(outcome.state, params=params)
