"""The sender's write transactions per batch and its pacing (issue 17's
benchmark): a claimed batch's attempts are committed together before any
of it is sent, its outcomes together after; no second at the provider holds
more than the channel's rate; a throttled answer is tried again after about
a second. Real app, real SQLite (commits counted by an event listener on
the real engine), the recording channel and the real Alibaba Cloud SDK
against its local stand-in."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from shared.notify import registry
from shared.notify import sender as sender_module
from shared.notify.channel import Outgoing, SendFailed
from shared.notify.retry import THROTTLE_RETRIES, Pacer
from shared.notify.sender import Sender
from shared.persistence.notification_models import Notification
from shared.services.core import Core
from tests.conftest import HandClock, Shop
from tests.notify import providers
from tests.notify.providers import AliyunSmsServer
from tests.notify.sender_flow import MORNING, Recording, Taken, channels_of, consenting, rows
from tests.reception.flow import Workshop, flask_call

aliyun_sms_server = providers.aliyun_sms_server
THROTTLED = "sms rate limit reached"


@pytest.fixture
def clock(core: Core) -> HandClock:
    hand = HandClock(MORNING)
    core.clock = hand
    return hand


@pytest.fixture
def workshop(client: Any, shop: Shop, clock: HandClock) -> Workshop:
    return Workshop(flask_call(client), shop)


@pytest.fixture
def sms() -> Recording:
    return Recording("sms")


class Commits:
    """Commits on the real engine while it listens."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, _connection: Any) -> None:
        self.count += 1


@pytest.fixture
def commits(core: Core) -> Iterator[Commits]:
    counter = Commits()
    event.listen(core.db.engine, "commit", counter)
    yield counter
    event.remove(core.db.engine, "commit", counter)


def orders(workshop: Workshop, count: int) -> list[int]:
    return [
        workshop.create(**consenting(("sms",), phone=f"138000000{n:02d}"))["id"]
        for n in range(count)
    ]


def sender_for(core: Core, *channels: Recording, **more: Any) -> Sender:
    return Sender(
        core,
        sleep=more.pop("sleep", lambda _seconds: None),
        channels_for=more.pop("channels_for", None) or channels_of(*channels),
        rng=random.Random(7),
        **more,
    )


def test_a_batch_is_three_write_transactions_not_two_per_message(
    workshop: Workshop, core: Core, sms: Recording, commits: Commits
) -> None:
    ids = orders(workshop, 8)
    commits.count = 0
    assert sender_for(core, sms).drain_once() == 8
    # The claim, the eight attempts together, the eight outcomes together.
    assert commits.count == 3
    assert len(sms.sent) == 8
    assert [r.status for r in rows(core)] == ["sent"] * 8
    assert {r.order_id for r in rows(core)} == set(ids)


def test_a_long_batch_records_its_outcomes_as_it_goes(
    workshop: Workshop, core: Core, sms: Recording, commits: Commits
) -> None:
    orders(workshop, sender_module.FLUSH_EVERY + 2)
    seen: list[int] = []
    # What is recorded while the batch is still being sent.
    sms.on_send = lambda _m: seen.append(sum(r.status == "sent" for r in rows(core)))
    commits.count = 0
    sender_for(core, sms).drain_once()
    # The claim, the attempts, the first FLUSH_EVERY outcomes, the last two.
    assert commits.count == 4
    assert seen[sender_module.FLUSH_EVERY] == sender_module.FLUSH_EVERY
    assert [r.status for r in rows(core)] == ["sent"] * (sender_module.FLUSH_EVERY + 2)


def test_every_attempt_is_committed_before_the_first_send(
    workshop: Workshop, core: Core, sms: Recording
) -> None:
    orders(workshop, 4)
    before: list[list[tuple[str, int, str]]] = []

    def look(_message: Outgoing) -> None:
        # Read by another session: only what is committed.
        with core.db.read() as session:
            found = session.execute(
                select(Notification.status, Notification.attempts, Notification.text).order_by(
                    Notification.id
                )
            ).all()
        before.append([(s, a, t) for s, a, t in found])

    sms.on_send = look
    sender_for(core, sms).drain_once()
    first = before[0]
    assert [(s, a) for s, a, _t in first] == [("sending", 1)] * 4
    assert all(text for _s, _a, text in first)
    assert [t for _s, _a, t in first] == [m.text for m in sms.sent]


class Crash(BaseException):
    """The process dies mid-send (nothing after the provider call runs)."""


def test_a_crash_in_the_middle_of_a_batch_sends_nothing_twice(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    orders(workshop, 5)
    # The third send is taken by the provider, then the process dies.
    calls = {"n": 0}

    def on_send(_message: Outgoing) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            sms.failures.append(Taken(Crash()))

    sms.on_send = on_send
    with pytest.raises(Crash):
        sender_for(core, sms).drain_once()
    assert len(sms.sent) == 3
    left = rows(core)
    # Nothing recorded after the batch's attempts: every row still sending, with its text.
    assert all(r.status == "sending" and r.attempts == 1 and r.text for r in left)
    sms.on_send = None
    assert left[0].claimed_until is not None
    clock.now = left[0].claimed_until + timedelta(seconds=1)
    sender_for(core, sms).drain_once()
    assert sorted(m.dedupe_key for m in sms.sent) == sorted(r.dedupe_key for r in left)
    assert [r.status for r in rows(core)] == ["sent"] * 5


def test_a_refused_message_does_not_spoil_the_others(
    workshop: Workshop, core: Core, sms: Recording
) -> None:
    orders(workshop, 3)
    sms.failures.append(SendFailed("invalid phone number", retry=False))
    sender_for(core, sms).drain_once()
    assert [(r.status, r.reason) for r in rows(core)] == [
        ("failed", "invalid phone number"),
        ("sent", ""),
        ("sent", ""),
    ]


def test_a_stopped_sender_takes_back_the_attempts_it_did_not_make(
    workshop: Workshop, core: Core, sms: Recording
) -> None:
    orders(workshop, 3)
    sender = sender_for(core, sms)
    sms.on_send = lambda _message: sender.stop()
    assert sender.drain_once() == 1
    found = rows(core)
    assert [(r.status, r.attempts, r.claimed_by) for r in found] == [
        ("sent", 1, ""),
        ("queued", 0, ""),
        ("queued", 0, ""),
    ]


class Provider:
    """A simulated provider clock for the pacer: each send takes
    ``durations`` seconds in turn and reaches the provider at ``reach`` of
    its way, in turn (the rest is the answer coming back)."""

    def __init__(self, durations: list[float], reach: list[float]) -> None:
        self.now = 0.0
        self.durations = durations
        self.reach = reach
        self.arrivals: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)

    def send(self, index: int) -> None:
        took = self.durations[index % len(self.durations)]
        self.arrivals.append(self.now + took * self.reach[index % len(self.reach)])
        self.now += took


def most_in_one_second(arrivals: list[float]) -> int:
    ordered = sorted(arrivals)
    most = 0
    start = 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


# A slow send (0.4 s) whose request reaches the provider late, then quick
# ones that reach it at once: pacing the starts alone lets the slow one
# land in the same second as the next twenty.
SLOW_THEN_QUICK = ([0.4] + [0.002] * 39, [1.0] + [0.0] * 39)


@pytest.mark.parametrize(
    "sends",
    [SLOW_THEN_QUICK, ([0.4] + [0.002] * 9, [0.5]), ([0.03, 0.2, 0.001], [0.0, 1.0, 0.5])],
)
def test_no_second_at_the_provider_holds_more_than_the_rate(
    sends: tuple[list[float], list[float]],
) -> None:
    provider = Provider(*sends)
    pacer = Pacer(20, provider.sleep, lambda: provider.now)
    for index in range(400):
        pacer.wait()
        provider.send(index)
        pacer.done()
    assert most_in_one_second(provider.arrivals) <= 20


def test_spacing_the_starts_alone_would_have_let_too_many_land() -> None:
    """The simulation above can fail: the old rule (starts 1/rate apart)
    on the same sends puts more than 20 in one of the provider's seconds."""
    provider = Provider(*SLOW_THEN_QUICK)
    interval = 1 / 20
    next_start = 0.0
    for index in range(400):
        provider.sleep(next_start - provider.now)
        next_start = max(provider.now, next_start) + interval
        provider.send(index)
    assert most_in_one_second(provider.arrivals) > 20


def test_a_throttled_answer_is_tried_again_after_a_second(
    workshop: Workshop, core: Core, sms: Recording
) -> None:
    orders(workshop, 1)
    sms.failures += [SendFailed(THROTTLED, retry=True)] * 2
    waits: list[float] = []
    sender_for(core, sms, sleep=waits.append).drain_once()
    done = rows(core)[0]
    assert (done.status, done.attempts, done.reason) == ("sent", 3, "")
    assert len(sms.sent) == 1 and len(sms.tries) == 3
    assert sum(1 for w in waits if 0.9 <= w <= 1.1) == 2


def test_throttled_again_and_again_falls_back_to_the_backoff(
    workshop: Workshop, core: Core, sms: Recording
) -> None:
    orders(workshop, 1)
    sms.failures += [SendFailed(THROTTLED, retry=True)] * (THROTTLE_RETRIES + 1)
    sender_for(core, sms).drain_once()
    left = rows(core)[0]
    assert (left.status, left.attempts, left.reason) == (
        "queued",
        THROTTLE_RETRIES + 1,
        THROTTLED,
    )
    # The first backoff (30 s less up to 20 % jitter), not one lengthened
    # by the quick retries.
    assert timedelta(seconds=24) <= left.not_before - MORNING <= timedelta(seconds=30)
    assert sms.sent == []


def test_alibaba_clouds_flow_control_answer_is_retried_within_the_drain(
    workshop: Workshop, core: Core, aliyun_sms_server: AliyunSmsServer
) -> None:
    orders(workshop, 1)
    aliyun_sms_server.script("Throttling.User", "Request was denied due to user flow control.", 400)
    environ = aliyun_sms_server.environ()
    waits: list[float] = []
    sender_for(
        core,
        sleep=waits.append,
        channels_for=lambda s, shop_settings: registry.channels_for(
            s, shop_settings, environ=environ
        ),
    ).drain_once()
    done = rows(core)[0]
    assert (done.status, done.attempts) == ("sent", 2)
    assert len(aliyun_sms_server.received) == 1
    assert any(0.9 <= w <= 1.1 for w in waits)
