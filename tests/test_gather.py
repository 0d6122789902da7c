"""Lookups that arrive together are answered by one query (the hub's token,
seq and last-seen lookups during a reconnect storm), with real threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import pytest

from shared.realtime.gather import Gather


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.005)


class Fetch:
    """A many-key lookup that records its batches; the first one waits
    until the test lets it finish, so the next askers queue meanwhile."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.fail = False

    def __call__(self, keys: list[str]) -> Mapping[str, str]:
        self.batches.append(keys)
        if len(self.batches) == 1:
            assert self.release.wait(10)
        if self.fail:
            raise RuntimeError("database away")
        return {key: key.upper() for key in keys if key != "missing"}


def ask_all(
    gather: Gather[str, str], keys: list[str]
) -> tuple[dict[str, object], list[threading.Thread]]:
    answers: dict[str, object] = {}

    def ask(key: str) -> None:
        try:
            answers[key] = gather.get(key)
        except RuntimeError as error:
            answers[key] = error

    threads = [threading.Thread(target=ask, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    return answers, threads


def test_lookups_arriving_during_a_query_share_the_next_one() -> None:
    fetch = Fetch()
    gather: Gather[str, str] = Gather(fetch, pause=lambda: None)
    first, threads = ask_all(gather, ["a"])
    until(lambda: len(fetch.batches) == 1)
    rest, more = ask_all(gather, ["b", "c", "c", "missing", "d"])
    until(lambda: gather.pending() == 5)
    fetch.release.set()
    for thread in threads + more:
        thread.join(10)
    assert fetch.batches[0] == ["a"]
    assert sorted(fetch.batches[1]) == ["b", "c", "d", "missing"]  # "c" asked once
    assert len(fetch.batches) == 2 == gather.batches
    assert first == {"a": "A"}
    assert rest == {"b": "B", "c": "C", "missing": None, "d": "D"}


def test_a_failed_query_fails_its_batch_only() -> None:
    fetch = Fetch()
    fetch.fail = True
    gather: Gather[str, str] = Gather(fetch, pause=lambda: None)
    answers, threads = ask_all(gather, ["a"])
    until(lambda: len(fetch.batches) == 1)
    more, others = ask_all(gather, ["b", "c"])
    until(lambda: gather.pending() == 2)
    fetch.release.set()
    for thread in threads + others:
        thread.join(10)
    assert all(isinstance(answer, RuntimeError) for answer in [*answers.values(), *more.values()])
    fetch.fail = False
    assert gather.get("e") == "E"


def test_a_batch_holds_at_most_the_limit() -> None:
    fetch = Fetch()
    fetch.release.set()
    everyone = threading.Event()

    def pause() -> None:
        # The first leader holds its batch open until all five have queued.
        if not everyone.is_set():
            until(lambda: gather.pending() == 5)
            everyone.set()

    gather: Gather[str, str] = Gather(fetch, pause=pause, limit=2)
    answers, threads = ask_all(gather, ["a", "b", "c", "d", "e"])
    for thread in threads:
        thread.join(10)
    assert answers == {key: key.upper() for key in "abcde"}
    assert sorted(len(batch) for batch in fetch.batches) == [1, 2, 2]


@pytest.mark.parametrize("keys", [["x"], ["x", "y"]])
def test_a_lone_lookup_is_one_query(keys: list[str]) -> None:
    fetch = Fetch()
    fetch.release.set()
    gather: Gather[str, str] = Gather(fetch, pause=lambda: None)
    for key in keys:
        assert gather.get(key) == key.upper()
    assert fetch.batches == [[key] for key in keys]
