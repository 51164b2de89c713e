"""Pushing stored punches to the HR/payroll system a department already runs (Frappe HRMS, Odoo, a webhook).

``queue`` keeps one row per (punch, target) in ``hrms_outbox`` (durable: a
killed pusher resumes where it was); ``frappe``, ``odoo`` and ``webhook``
each send one punch the way that system's API wants it and make a resent
punch harmless on the target's side; ``pusher`` runs the loop
(``hub hrms-push``, systemd/hub-hrms-push.service).

A punch can be sent twice: the pusher may die after the target stored it
and before the outbox row is marked sent. So each client makes the second
send a no-op at the target (see each module), and "exactly once" is a
property of pusher and target together.
"""

from hub.errors import HubError


class HrmsError(HubError):
    """Root of the HRMS push errors."""


class TargetUnavailable(HrmsError, ConnectionError):
    """The target could not take the punch now (network, 5xx, 429, authentication): try again later."""


class TargetRefused(HrmsError, ValueError):
    """The target refused this punch for good (unknown employee, invalid data): retrying will not help."""
