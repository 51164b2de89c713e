"""The gallery the kiosk matches against: what the hub sent, cached encrypted on disk.

Deltas from the hub are applied to a copy and swapped in whole, so the
pipeline thread always matches against one consistent version, never a
half-applied one. Each applied version is saved (atomically, encrypted)
before the hub is told we hold it: after a reboot the kiosk recognises its
staff as soon as it holds the cache's key (at once with the card-derived
key; once the hub has sent it with the default hub key, kiosk/gallery_key.py).
"""

import logging
import threading

import numpy as np

from biometrics.matcher import Gallery
from kiosk.gallery_key import GalleryKeyError, GalleryLocked
from kiosk.gallery_store import EncryptedGalleryStore, GalleryStoreError, People
from protocol.errors import MessageInvalid
from protocol.messages import GalleryDelta, decode_template

log = logging.getLogger(__name__)


class GalleryCache:
    """The current ``Gallery`` for one site, with display names, kept in step with the hub."""

    def __init__(self, site_id: str, store: EncryptedGalleryStore) -> None:
        self.site_id = site_id
        self.store = store
        self._lock = threading.Lock()
        self._people: People = {}
        self._gallery = Gallery({}, version=0)

    @property
    def gallery(self) -> Gallery:
        return self._gallery

    @property
    def version(self) -> int:
        return self._gallery.version

    def name_of(self, employee_id: str) -> str:
        entry = self._people.get(employee_id)
        return entry[0] if entry and entry[0] else employee_id

    def templates_of(self, employee_id: str) -> list[np.ndarray]:
        """That person's enrolled templates (a 1:1 check after a typed staff number); none when unknown."""
        entry = self._people.get(employee_id)
        return [np.asarray(t, np.float32) for t in entry[1]] if entry else []

    def load(self) -> int:
        """Load the cached gallery; version 0 (ask the hub for everything) when there is none or it is bad.

        Still locked (the hub has not sent the key): version 0 and the file
        left alone; the link calls this again once the key is in.
        """
        try:
            loaded = self.store.load()
        except GalleryLocked:
            log.info("gallery cache stays closed until the hub sends its key")
            return 0
        except (GalleryStoreError, GalleryKeyError) as exc:
            log.error("gallery cache unusable, starting empty and asking the hub for all of it: %s", exc)
            return 0
        if loaded is None:
            return 0
        version, site_id, people = loaded
        if site_id != self.site_id:
            log.warning("gallery cache is for site %s, this kiosk stands at %s: ignored", site_id, self.site_id)
            return 0
        with self._lock:
            self._swap(version, people)
        log.info("gallery cache loaded: version %s, %d people", version, len(people))
        return version

    def apply(self, delta: GalleryDelta) -> int | None:
        """Apply a hub delta; the version now held, or None when the delta does not fit ours.

        A delta we already hold (the hub pushed it while our own request was
        answered too) changes nothing. One that starts from another version
        than ours (we missed one, or the hub was restored from a backup) is
        refused: the caller asks for the full gallery instead of guessing.
        """
        with self._lock:
            if delta.site_id != self.site_id:
                return None
            if not delta.full and delta.from_version < self.version and delta.to_version <= self.version:
                return self.version
            if not delta.full and delta.from_version != self.version:
                return None
            if not delta.full and delta.to_version == self.version:
                return self.version
            people: People = {} if delta.full else dict(self._people)
            for employee_id in delta.removed:
                people.pop(employee_id, None)
            try:
                for person in delta.upserts:
                    templates = [decode_template(t) for t in person.encodings]
                    if templates:
                        people[person.employee_id] = (person.name, templates)
                    else:
                        people.pop(person.employee_id, None)
            except (MessageInvalid, ValueError) as exc:
                log.error("gallery delta %s->%s has a bad template, not applied: %s",
                          delta.from_version, delta.to_version, exc)
                return None
            self.store.save(delta.to_version, self.site_id, people)
            self._swap(delta.to_version, people)
        log.info("gallery now version %s: %d people (%d upserts, %d removed, full: %s)", delta.to_version,
                 len(people), len(delta.upserts), len(delta.removed), delta.full)
        return delta.to_version

    def _swap(self, version: int, people: People) -> None:
        gallery = Gallery({e: [np.asarray(t, np.float32) for t in ts] for e, (_n, ts) in people.items()},
                          version=version)
        self._people, self._gallery = people, gallery
