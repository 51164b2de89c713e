"""Small helpers shared by the master-data modules."""

from typing import Any

from pydantic import BaseModel

from hub.errors import InvalidInput


def changes_of(patch: BaseModel, required: set[str], exclude: set[str] = frozenset()) -> dict[str, Any]:
    """The fields the patch sets; a required field set to null is refused."""
    changes = patch.model_dump(exclude_unset=True, exclude=set(exclude))
    empty = sorted(k for k, v in changes.items() if v is None and k in required)
    if empty:
        raise InvalidInput(f"{', '.join(empty)} cannot be empty")
    return changes


def apply(row: Any, changes: dict[str, Any]) -> bool:
    """Set the changed attributes; True when any value differed."""
    changed = False
    for key, value in changes.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed
