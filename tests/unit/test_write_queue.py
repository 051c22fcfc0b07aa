"""The process's write lock on SQLite lets writers in in the order they came, one at a time."""

from __future__ import annotations

import threading
import time

import pytest

from portal_core.db import WriteQueue

WAIT_S = 10.0


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.001)


def test_waiters_get_their_turn_in_the_order_they_came() -> None:
    queue = WriteQueue()
    queue.acquire()
    order: list[int] = []

    def writer(number: int) -> None:
        queue.acquire()
        order.append(number)
        queue.release()

    threads = []
    for number in range(6):
        thread = threading.Thread(target=writer, args=(number,))
        thread.start()
        threads.append(thread)
        _until(lambda n=number: queue.waiting() == n + 1, f"writer {number} queued")
    queue.release()
    for thread in threads:
        thread.join(WAIT_S)
    assert order == [0, 1, 2, 3, 4, 5]
    assert not queue.locked() and queue.waiting() == 0


def test_one_writer_at_a_time() -> None:
    queue = WriteQueue()
    inside = 0
    most = 0
    counted = 0

    def writer() -> None:
        nonlocal inside, most, counted
        for _ in range(300):
            queue.acquire()
            inside += 1
            most = max(most, inside)
            current = counted
            time.sleep(0)  # let another thread run while this one holds the lock
            counted = current + 1
            inside -= 1
            queue.release()

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S * 3)
    assert (most, counted) == (1, 8 * 300)
    assert not queue.locked()


def test_releasing_what_nobody_holds_is_an_error() -> None:
    queue = WriteQueue()
    with pytest.raises(RuntimeError):
        queue.release()
    queue.acquire()
    assert queue.locked()
    queue.release()
    assert not queue.locked()
