"""``provision batch``: every row of a devices CSV to a registered identity, a bundle and a card.

Per row: the identity and bundle (``device.provision_device``, which also
registers at the hub), then, with a base image, the card image
(``cards.CardMaker``). A bad row is recorded with its reason and the next
row runs; the broker's logins are regenerated once at the end by the
caller, from every bundle (``broker.write_broker_files``). Each step is
idempotent, so a rerun after fixing a row redoes only what changed.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from provisioning.cards import Card, CardMaker
from provisioning.device import BundleOptions, DeviceRequest, provision_device
from provisioning.errors import ProvisionError
from provisioning.hubclient import HubClient, Registration
from provisioning.progress import Progress

log = logging.getLogger(__name__)

FAILED = "failed"


@dataclass(frozen=True)
class RowResult:
    """What became of one CSV row; ``error`` is set when ``status`` is ``failed``."""

    label: str
    device_id: str | None
    site_id: str | None
    status: str  # "created", "already registered" or "failed"
    error: str | None = None
    card: Card | None = None


@dataclass
class BatchResult:
    rows: list[RowResult] = field(default_factory=list)

    def _with(self, status: str) -> list[RowResult]:
        return [r for r in self.rows if r.status == status]

    @property
    def created(self) -> list[str]:
        return [r.device_id for r in self._with(Registration.CREATED.value) if r.device_id]

    @property
    def already(self) -> list[str]:
        return [r.device_id for r in self._with(Registration.ALREADY.value) if r.device_id]

    @property
    def failed(self) -> list[tuple[str, str]]:
        return [(r.label, r.error or "") for r in self._with(FAILED)]

    @property
    def cards(self) -> list[Card]:
        return [r.card for r in self.rows if r.card is not None]

    @property
    def deferred(self) -> list[Card]:
        """Cards not made in this run (``--max-cards`` reached): the next run makes them."""
        return [c for c in self.cards if c.deferred]

    def summary(self) -> str:
        lines = [f"created: {len(self.created)}, already registered: {len(self.already)}, failed: {len(self.failed)}"]
        if self.cards:
            written = sum(c.written for c in self.cards)
            deferred = len(self.deferred)
            flashed = sum(c.flashed for c in self.cards)
            lines.append(f"cards: {written} written, {len(self.cards) - written - deferred} unchanged"
                         + (f" ({flashed} of them flashed earlier)" if flashed else "")
                         + (f", {deferred} left to make (--max-cards)" if deferred else ""))
        lines += [f"  failed {what}: {why}" for what, why in self.failed]
        return "\n".join(lines)

    def table(self) -> str:
        """One line per row: device, site, status, card file, SHA-256 (as in SHA256SUMS)."""
        header = ("device", "site", "status", "card", "sha256")
        body = [(r.device_id or "-", r.site_id or "-", r.status, r.card.path.name if r.card else "-",
                 r.card.sha256 or "-" if r.card else "-") for r in self.rows]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header) - 1)]
        return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip()
                         for row in [header, *body])


def provision_batch(
    hub: HubClient,
    rows: Iterable[tuple[str, DeviceRequest | str]],
    out_dir: Path,
    options: BundleOptions,
    cards: CardMaker | None = None,
    progress: Progress | None = None,
) -> BatchResult:
    """Provision each row into ``out_dir/<device_id>`` (and its card); one failure does not stop the rest."""
    rows = list(rows)
    progress = progress or Progress(len(rows))
    result = BatchResult()
    for n, (label, request) in enumerate(rows, start=1):
        row = _one_row(hub, label, request, out_dir, options, cards)
        result.rows.append(row)
        done = row.error if row.error else row.status + (_card_note(row.card) if row.card else "")
        progress.line(f"[{n}/{len(rows)}] {label}: {FAILED + ': ' if row.error else ''}{done}")
        progress.advance(row.device_id or label)
    progress.finish()
    return result


def _one_row(
    hub: HubClient, label: str, request: DeviceRequest | str, out_dir: Path, options: BundleOptions,
    cards: CardMaker | None,
) -> RowResult:
    if isinstance(request, str):
        return RowResult(label, None, None, FAILED, request)
    where = (label, request.device_id, request.site_id)
    try:
        outcome = provision_device(hub, request, out_dir / request.device_id, options)
    except ProvisionError as exc:
        log.info("%s: %s", label, exc)
        return RowResult(*where, FAILED, str(exc))
    if cards is None:
        return RowResult(*where, outcome.value)
    try:
        card = cards.make(out_dir / request.device_id)
    except ProvisionError as exc:
        return RowResult(*where, FAILED, f"{outcome.value} at the hub, but its card failed: {exc}")
    return RowResult(*where, outcome.value, card=card)


def _card_note(card: Card) -> str:
    if card.deferred:
        return f", card {card.path.name} left for the next run (--max-cards)"
    state = "written" if card.written else "unchanged, flashed earlier" if card.flashed else "unchanged"
    return f", card {card.path.name} {state}"
