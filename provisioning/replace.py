"""``provision replace OLD NEW``: a new kiosk takes a dead one's place, and nothing it held is lost.

In this order, each step safe to repeat, so a run cut short is simply run again:

1. the old device's site, from the hub (its bundle must be here: its login
   is needed in step 3);
2. its unacked punches, read off its card if the card still reads
   (``oldcard``); they are kept in its bundle (``unacked-punches.jsonl``),
   so a rerun needs the card no more;
3. the new device: identity, bundle, registration at the same site
   (``device.provision_device``);
4. the old punches delivered as they were signed, under the old identity
   (``handover``; why not re-signed is said there). If any is not answered,
   it stops here: the old identity stays active so a rerun can deliver them;
5. the old identity retired at the hub and marked in its bundle; the caller
   then regenerates the broker's logins without it.
"""

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from provisioning import bundle as bundles
from provisioning.device import BundleOptions, DeviceRequest, provision_device
from provisioning.errors import HubError, ProvisionError
from provisioning.handover import Delivery, HandoverError
from provisioning.hubclient import HubClient, Registration

log = logging.getLogger(__name__)

UNACKED_FILE = "unacked-punches.jsonl"
DELIVERED_FILE = "delivered-punches.jsonl"  # the same, once the hub answered for each: a rerun skips them

# (punch id, payload) pairs -> what the hub answered; ``handover.deliver`` bound to a broker address.
Deliver = Callable[[Path, list[tuple[str, bytes]]], Delivery]
# The card's unacked rows (seq, id, payload, created_at) and a note; ``oldcard.read_unacked`` bound to a card.
ReadCard = Callable[[], tuple[list[tuple[int, str, bytes, float]], str]]


@dataclass
class ReplaceResult:
    old: str
    new: str
    site_id: str
    registration: Registration
    card_note: str = "no old card given: punches still on it, if any, are not delivered"
    salvaged: int = 0
    delivery: Delivery = field(default_factory=Delivery)
    old_retired_before: bool = False

    def lines(self) -> list[str]:
        d = self.delivery
        return [
            f"{self.new}: {self.registration.value} at site {self.site_id} (in place of {self.old})",
            f"old card: {self.card_note}",
            f"old punches: {self.salvaged} unacked, {len(d.acked)} stored at the hub (or already there), "
            f"{len(d.rejected)} refused" + "".join(f"\n  refused {i}: {why}" for i, why in d.rejected),
            f"{self.old}: {'was already retired' if self.old_retired_before else 'retired at the hub'}",
        ]


def replace_device(
    hub: HubClient,
    old: str,
    new: str,
    bundles_dir: Path,
    options: BundleOptions,
    deliver: Deliver,
    read_card: ReadCard | None = None,
) -> ReplaceResult:
    """Steps 1-5 of the module docstring; raises ProvisionError, with the old identity still active, on failure."""
    bundles.check_device_id(old)
    bundles.check_device_id(new)
    if old == new:
        raise ProvisionError("the replacement needs its own device id (a new key on the same id is not a replacement)")
    old_dir = bundles_dir / old
    bundles.read_meta(old_dir)  # BundleError naming the folder when it is not there
    at_hub = hub.get_device(old)
    if at_hub is None:
        raise HubError(f"the hub does not know device {old}")
    rows, note = _unacked(old_dir, read_card)
    registration = provision_device(hub, DeviceRequest(new, at_hub.site_id), bundles_dir / new, options)
    result = ReplaceResult(old, new, at_hub.site_id, registration, salvaged=len(rows),
                           old_retired_before=at_hub.retired)
    if note:
        result.card_note = note
    if rows and at_hub.retired:
        raise ProvisionError(f"{old} is already retired at the hub, which now refuses its {len(rows)} unacked "
                             f"punches (kept in {old_dir / UNACKED_FILE})")
    if rows:
        result.delivery = deliver(old_dir, [(punch_id, payload) for _seq, punch_id, payload, _at in rows])
        if result.delivery.unanswered:
            raise HandoverError(
                f"{len(result.delivery.unanswered)} of {len(rows)} old punches were not answered by the hub; "
                f"{old} is left active so that a rerun can deliver them (kept in {old_dir / UNACKED_FILE})")
        _save(old_dir / DELIVERED_FILE, _load(old_dir / DELIVERED_FILE) + rows)
        (old_dir / UNACKED_FILE).unlink()
    if not at_hub.retired:
        hub.retire_device(old)
    bundles.mark_retired(old_dir)
    return result


def _unacked(old_dir: Path, read_card: ReadCard | None) -> tuple[list[tuple[int, str, bytes, float]], str]:
    """The card's unacked punches (saved in the old bundle), or the ones saved by an earlier run."""
    saved = old_dir / UNACKED_FILE
    delivered = {row[1] for row in _load(old_dir / DELIVERED_FILE)}
    if read_card is not None:
        rows, note = read_card()
        known = {row[1] for row in _load(saved)} | delivered
        merged = _load(saved) + [row for row in rows if row[1] not in known]
        if merged:
            _save(saved, merged)
        return merged, note + (f"; {len(delivered)} delivered by an earlier run" if delivered else "")
    if saved.exists():
        rows = _load(saved)
        return rows, f"not given; {len(rows)} punches read off it by an earlier run"
    return [], ""


def _save(path: Path, rows: list[tuple[int, str, bytes, float]]) -> None:
    text = "".join(json.dumps({"seq": seq, "id": punch_id, "payload": base64.b64encode(payload).decode("ascii"),
                               "created_at": created_at}) + "\n" for seq, punch_id, payload, created_at in rows)
    bundles.write_private_text(path, text)


def _load(path: Path) -> list[tuple[int, str, bytes, float]]:
    if not path.exists():
        return []
    try:
        items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [(i["seq"], i["id"], base64.b64decode(i["payload"]), i["created_at"]) for i in items]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProvisionError(f"{path} is damaged ({exc}); read the old card again with --old-card") from exc
