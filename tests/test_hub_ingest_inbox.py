"""The worker's inbox (issue 8): batches in arrival order, never larger than batch_max; bounded."""

import threading

import pytest

from hub.ingest.inbox import Inbox


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


def test_a_full_inbox_makes_put_wait_until_a_batch_is_taken():
    inbox: Inbox[int] = Inbox(batch_max=2, capacity=3)
    stop = threading.Event()
    for n in range(3):
        assert inbox.put(n, stop)
    putter = threading.Thread(target=inbox.put, args=(3, stop), daemon=True)
    putter.start()
    putter.join(0.3)
    assert putter.is_alive() and len(inbox) == 3  # paho's thread waits: nothing more is read
    assert inbox.take(0.0, stop) == [0, 1]
    putter.join(60)
    assert not putter.is_alive()
    assert inbox.take(0.0, stop) == [2, 3]


def test_put_gives_up_when_the_worker_stops():
    inbox: Inbox[int] = Inbox(batch_max=1, capacity=1)
    stop = threading.Event()
    assert inbox.put(1, stop)
    stop.set()
    assert inbox.put(2, stop, poll_s=0.01) is False
    assert len(inbox) == 1


def test_capacity_must_hold_a_batch():
    with pytest.raises(ValueError, match="cannot fill a batch"):
        Inbox(batch_max=5, capacity=4)
