"""Who is making a request: a user with a role, or the machine token used for provisioning."""

from dataclasses import dataclass, field

ADMIN, UNIT_OFFICER, EMPLOYEE = "admin", "unit_officer", "employee"
MACHINE_ACTOR = "token:admin"


@dataclass(frozen=True)
class Principal:
    """The caller of one request (or one CLI command), as the API and audit log see it.

    ``unit_ids`` are the units assigned to a unit officer (child units are
    added by ``hub.accounts.scope``); ``employee_id`` is set for role employee.
    """

    username: str
    role: str
    user_id: int | None = None
    employee_id: str | None = None
    unit_ids: frozenset[str] = field(default_factory=frozenset)
    must_change_password: bool = False
    source: str | None = None  # client address, for the audit log

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


def machine(source: str | None = None) -> Principal:
    """The bearer token from ``admin_token_file``: role admin, no user row."""
    return Principal(username=MACHINE_ACTOR, role=ADMIN, source=source)


def cli(os_user: str) -> Principal:
    """Someone at the hub's command line (they can read the database anyway)."""
    return Principal(username=f"cli:{os_user}", role=ADMIN)
