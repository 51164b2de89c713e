"""In or Out, as the kiosk can tell it: a person's first accepted punch of the local day here is In, later ones Out.

The hub decides In/Out from the whole day under the site's shift rules
(DESIGN.md); the person at the wall still needs an answer now, and "first
today = In, later = Out" is the same rule applied to what this kiosk saw.
Kept in a small JSON file in the state directory so a restart at noon does
not greet everyone with "In" again; only today's staff numbers are kept.
"""

import json
import logging
import os
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)

DAYBOOK_FILE = "daybook.json"


class DayBook:
    """Who has punched today at this kiosk."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._day: str = ""
        self._seen: set[str] = set()
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._day, self._seen = str(data["day"]), set(map(str, data["seen"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("day book %s unreadable (%s); In/Out starts afresh", self.path, exc)

    def record(self, employee_id: str, today: date) -> str:
        """Note an accepted punch; returns ``"in"`` for the first one today, else ``"out"``."""
        day = today.isoformat()
        if day != self._day:
            self._day, self._seen = day, set()
        direction = "out" if employee_id in self._seen else "in"
        self._seen.add(employee_id)
        self._save()
        return direction

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"day": self._day, "seen": sorted(self._seen)}), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:  # In/Out on the screen is a courtesy: never let it stop a punch
            log.warning("day book %s not saved: %s", self.path, exc)
