"""Every screen the kiosk can show, by a short name, for ``kiosk preview`` and the tests.

``kiosk preview --state accepted --lang hi --name "राम कुमार" --out screen.png``
renders one without a camera; ``--state all`` renders each of them. The list
covers the keypad states of the fallback too, so their texts are reviewed
before the keypad ships.
"""

from kiosk.screen.state import ScreenState

REFUSAL_REASONS = ("not_recognised", "liveness_failed", "not_live", "timeout", "too_far", "too_dark",
                   "not_allowed_here", "cannot_save", "clock_unset", "id_mismatch", "assisted")
PROMPT_STATES = {"look": "kiosk.prompt.look_again", "blink": "kiosk.prompt.blink",
                 "turn_left": "kiosk.prompt.turn_left", "turn_right": "kiosk.prompt.turn_right",
                 "hold_still": "kiosk.prompt.hold_still", "too_dark_now": "kiosk.quality.too_dark",
                 "come_closer": "kiosk.quality.too_small"}


def preview_states(*, name: str = "राम कुमार", employee_id: str = "E1001", time: str = "09:14",
                   site: str = "Collectorate, Lucknow", direction: str = "in") -> dict[str, ScreenState]:
    """Each reviewable screen by name: ``refused`` alone is "not recognised", ``refused:<reason>`` the rest."""
    person = {"name": name, "employee_id": employee_id, "time": time}
    states: dict[str, ScreenState] = {
        "idle": ScreenState("idle"),
        "checking": ScreenState("checking"),
        **{k: ScreenState("checking", prompt=key) for k, key in PROMPT_STATES.items()},
        "accepted": ScreenState("accepted", params={**person, "site": site, "direction": direction}),
        "offline_saved": ScreenState("offline_saved", params={**person, "site": site, "direction": direction}),
        "already": ScreenState("already", params=person),
        "refused": ScreenState("refused", reason="not_recognised"),
        "keypad": ScreenState("keypad", params={"employee_id": employee_id[:3]}),  # digits typed so far
        "verifying": ScreenState("verifying", params={"employee_id": employee_id}),
    }
    for reason in REFUSAL_REASONS:
        named = reason in ("cannot_save", "clock_unset", "id_mismatch", "assisted")
        states[f"refused:{reason}"] = ScreenState("refused", reason=reason,
                                                  params={"employee_id": employee_id} if named else {})
    return states
