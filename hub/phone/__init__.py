"""Phone fallback punching: activation by SMS code, bound phones, geofence, selfie 1:1 match.

Pure decisions live in small modules (``geofence``, ``travel``, ``nonces``,
``policy``, ``otp``, ``throttle``, ``passwords``, ``selfie``); the services
(``accounts`` for activation, login and sessions, ``punching`` for punches)
do the database work; ``hub.api.routes.phone`` is the HTTP face.
"""

from hub.errors import HubError


class PhoneError(HubError):
    """Root of the errors this package raises on purpose."""
