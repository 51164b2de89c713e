"""May this site take phone punches right now? (pure)

``always``: yes. ``never``: no. ``kiosk_down``: only while every kiosk of the
site is ``offline`` or ``stale`` (``hub.devices.state``); a kiosk the hub has
never heard from counts as working, so a missing status feed fails closed.
A site with no kiosk at all has nothing to fall back from: phones are allowed.
An unknown policy value refuses.
"""

from collections.abc import Sequence

from hub.devices.state import DeviceState
from hub.phone.reasons import Refused

POLICIES = ("always", "kiosk_down", "never")
DOWN_STATES = frozenset({"offline", "stale"})


def check_phone_policy(policy: str, kiosk_states: Sequence[DeviceState], site_name: str) -> None:
    if policy == "always":
        return
    if policy == "kiosk_down":
        if all(state in DOWN_STATES for state in kiosk_states):
            return
        raise Refused("kiosk_available", site_name=site_name)
    raise Refused("phone_not_allowed_at_site", site_name=site_name)
