"""The hand-over from paho's network thread to the ingest worker, in batches.

``queue.Queue`` wakes a waiting consumer for every item. While a batch
fills, that is a wake-up per message, and each costs the two threads two
hand-overs of the GIL, which the network thread then waits for before it
can read the next message. Here the worker sleeps until its batch is full
or its wait is over, and is woken only by the first message (to start the
wait) and by the one that fills the batch.

The inbox holds at most ``capacity`` items: when it is full, ``put`` waits
for the worker to take a batch, so paho stops reading the socket and a
backlog stays at the broker instead of in the worker's memory. The worker
asks the broker for no more than that anyway (MQTT v5 Receive Maximum), but
Mosquitto 2.0.11 sends a shared session's whole queue when the worker
reconnects and acks flow (200,000 punches within seconds, measured). While
paho waits it reads nothing, so a reply such as a PINGRESP waits behind the
backlog: draining 1,000,000 punches on SQLite, paho once gave up on its
keepalive and reconnected, and the broker resent what was not acked
(stored once, acked then; nothing lost).
"""

import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """A bounded FIFO that hands out batches of at most ``batch_max`` items."""

    def __init__(self, batch_max: int, capacity: int | None = None) -> None:
        if capacity is not None and capacity < batch_max:
            raise ValueError(f"an inbox of {capacity} items cannot fill a batch of {batch_max}")
        self.batch_max = batch_max
        self.capacity = capacity
        self.high_water = 0  # the most items it has held at once
        self._items: deque[T] = deque()
        lock = threading.Lock()
        self._ready = threading.Condition(lock)  # items to take
        self._room = threading.Condition(lock)   # room to put

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T, stop: threading.Event | None = None, poll_s: float = 0.2) -> bool:
        """Append ``item``, waiting while the inbox is full; False (item not added) if ``stop``
        is set first, so a stopping worker never leaves paho's thread stuck here."""
        with self._ready:
            while self.capacity is not None and len(self._items) >= self.capacity:
                if stop is not None and stop.is_set():
                    return False
                self._room.wait(poll_s)
            self._items.append(item)
            held = len(self._items)
            if held > self.high_water:
                self.high_water = held
            if held in (1, self.batch_max):
                self._ready.notify()
            return True

    def take(self, wait_s: float, stop: threading.Event, poll_s: float = 0.2) -> list[T]:
        """The next batch: once an item is there, wait up to ``wait_s`` for the batch to fill.

        Returns an empty list only when ``stop`` is set while nothing is queued
        (checked every ``poll_s``).
        """
        with self._ready:
            while not self._items:
                if stop.is_set():
                    return []
                self._ready.wait(poll_s)
            deadline = time.monotonic() + wait_s
            while len(self._items) < self.batch_max:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._ready.wait(remaining)
            batch = [self._items.popleft() for _ in range(min(self.batch_max, len(self._items)))]
            self._room.notify()
            return batch
