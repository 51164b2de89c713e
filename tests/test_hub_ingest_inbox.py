"""The worker's inbox (issue 8): batches in arrival order, never larger than batch_max."""

import threading

from hub.inbox import Inbox


def test_batches_come_in_order_and_at_most_batch_max():
    inbox: Inbox[int] = Inbox(batch_max=3)
    for n in range(7):
        inbox.put(n)
    stop = threading.Event()
    assert inbox.take(0.0, stop) == [0, 1, 2]
    assert inbox.take(0.0, stop) == [3, 4, 5]
    assert inbox.take(0.0, stop) == [6]  # the wait is over: a partial batch


def test_a_full_batch_wakes_the_worker_before_its_wait_is_over():
    inbox: Inbox[int] = Inbox(batch_max=2)
    inbox.put(1)
    taken: list[list[int]] = []
    worker = threading.Thread(target=lambda: taken.append(inbox.take(3600.0, threading.Event())), daemon=True)
    worker.start()
    inbox.put(2)  # fills the batch: the worker must not sit out its hour
    worker.join(60)
    assert taken == [[1, 2]]


def test_take_returns_nothing_once_stopped_while_empty():
    stop = threading.Event()
    stop.set()
    assert Inbox(batch_max=5).take(1.0, stop, poll_s=0.01) == []
