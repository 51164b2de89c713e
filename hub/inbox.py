"""The hand-over from paho's network thread to the ingest worker, in batches.

``queue.Queue`` wakes a waiting consumer for every item. While a batch
fills, that is a wake-up per message, and each costs the two threads two
hand-overs of the GIL, which the network thread then waits for before it
can read the next message. Here the worker sleeps until its batch is full
or its wait is over, and is woken only by the first message (to start the
wait) and by the one that fills the batch.
"""

import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """A FIFO that hands out batches of at most ``batch_max`` items."""

    def __init__(self, batch_max: int) -> None:
        self.batch_max = batch_max
        self._items: deque[T] = deque()
        self._ready = threading.Condition(threading.Lock())

    def put(self, item: T) -> None:
        with self._ready:
            self._items.append(item)
            if len(self._items) in (1, self.batch_max):
                self._ready.notify()

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
            return [self._items.popleft() for _ in range(min(self.batch_max, len(self._items)))]
