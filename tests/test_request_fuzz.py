"""Any text, in every string field of every JSON mutation, never breaks
the shop.

Hypothesis writes arbitrary Unicode (lone surrogates, controls, bidirectional
characters and noncharacters included) into each string field, beside valid
values for the others, and sends it as a client would (JSON with ``\\u``
escapes). Every answer must be 2xx or 4xx, never 5xx; a refusal changes
nothing; and afterwards the order and the event feed still answer 200 with
strict UTF-8 JSON. Before request text was checked, one such reason stored
on an order made both answer 500 for good.

In process (Flask test client) on the real SQLite database; derandomised and
bounded, so it finds the same things every run and stays short.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.services.core import Core
from tests.conftest import Shop
from tests.request_flow import PROMISED, Rest, customer_token

# Characters the rule is about, mixed in more often than chance would.
NASTY = [
    "\udc00",
    "\ud800",
    "\udbff",
    "\u202e",
    "\u2066",
    "\u200f",
    "\u061c",
    "\x00",
    "\x1b",
    "\x85",
    "\r",
    "\n",
    "\t",
    "\u2028",
    "\ufffe",
    "\ufdd0",
    "\U0010ffff",
    "\u200d",
    "😀",
    '"',
    "\\",
]
# Any text: every code point, surrogates included (this Hypothesis's plain
# st.text() leaves them out), and short strings made mostly of the
# characters above, which any code point alone would rarely draw.
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=12),
    st.text(st.sampled_from([*NASTY, "a", "张", " "]), min_size=1, max_size=6),
)
STAGES = [
    "booked",
    "checked_in",
    "dispatched",
    "in_progress",
    "paused",
    "quality_check",
    "washing",
    "ready",
    "delivered",
    "cancelled",
]


def valid_or_any(valid: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(valid), TEXT)


def _aware(moment: datetime, minutes: int) -> str:
    return moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()


# From year 1 to 9999 with any offset: the far ends once overflowed.
TIMESTAMPS = st.builds(_aware, st.datetimes(), st.integers(-1439, 1439))

FUZZ = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def rest(client: Any, shop: Shop, core: Core) -> Rest:
    return Rest(client, shop, core)


def outcome(rest: Rest, answer: tuple[int, Any], before: int, order_id: int | None) -> None:
    """2xx or 4xx; a refusal changed nothing; everything still reads."""
    status, body = answer
    assert status < 500, body
    assert 200 <= status < 300 or 400 <= status < 500, (status, body)
    if status >= 400:
        assert body["code"], body
        assert rest.last_seq() == before, body
    rest.assert_readable(order_id, before)


@FUZZ
@given(
    body=st.fixed_dictionaries(
        {
            "plate": valid_or_any("粤B12345"),
            "customer": st.fixed_dictionaries(
                {"name": valid_or_any("张先生"), "phone": valid_or_any("13800000000")}
            ),
            "vehicle": st.fixed_dictionaries(
                {"model": valid_or_any("卡罗拉"), "vin": valid_or_any("")}
            ),
            "complaint": valid_or_any("异响"),
            "items": st.lists(st.fixed_dictionaries({"title": valid_or_any("换油")}), max_size=2),
            "promised_at": st.one_of(st.just(PROMISED), TIMESTAMPS, TEXT),
            "priority": st.one_of(st.sampled_from(["normal", "vip"]), TEXT),
        }
    ),
    extra=st.dictionaries(TEXT, st.integers(), max_size=1),
    key=st.booleans(),
)
def test_creating_an_order(
    rest: Rest, body: dict[str, Any], extra: dict[str, int], key: bool
) -> None:
    """With and without an Idempotency-Key (whose fingerprint hashes the body)."""
    before = rest.last_seq()
    answer = rest.send("POST", "/api/v1/orders", {**body, **extra}, role="advisor", key=key)
    created = answer[1]["id"] if answer[0] == 201 else None
    if extra and not set(extra) & set(body):
        assert answer[0] == 422, answer
    outcome(rest, answer, before, created)


@FUZZ
@given(
    to=st.one_of(st.sampled_from(STAGES), TEXT),
    reason=TEXT,
    pause_reason=st.one_of(st.sampled_from(["parts", "approval", "other"]), TEXT),
    bay=valid_or_any("B02"),
    key=st.booleans(),
)
def test_moving_and_assigning_an_order(
    rest: Rest, to: str, reason: str, pause_reason: str, bay: str, key: bool
) -> None:
    order = rest.create()
    before = rest.last_seq()
    body = {"to": to, "version": order["version"], "reason": reason, "pause_reason": pause_reason}
    path = f"/api/v1/orders/{order['id']}/transitions"
    answer = rest.send("POST", path, body, key=key)
    outcome(rest, answer, before, order["id"])
    order = rest.order(order["id"])
    before = rest.last_seq()
    body = {"bay": bay, "technicians": [rest.shop.technicians[1]], "version": order["version"]}
    answer = rest.send("PUT", f"/api/v1/orders/{order['id']}/assignment", body, role="foreman")
    outcome(rest, answer, before, order["id"])
    if answer[0] == 200:  # free the bay for the next example
        rest.move(answer[1], "cancelled", reason="测试")


@FUZZ
@given(description=valid_or_any("刹车片磨损"), channel=st.one_of(st.just("phone"), TEXT))
def test_quoting_and_deciding_extra_work(rest: Rest, description: str, channel: str) -> None:
    order = rest.started()
    before = rest.last_seq()
    body = {
        "description": description,
        "labour_hours": 1.5,
        "price_cents": 68000,
        "version": order["version"],
    }
    answer = rest.send("POST", f"/api/v1/orders/{order['id']}/extra-work", body)
    outcome(rest, answer, before, order["id"])
    if answer[0] != 201:
        return
    quote = answer[1]
    before = rest.last_seq()
    path = f"/api/v1/orders/{order['id']}/extra-work/{quote['id']}/decision"
    body = {"approved": True, "quote_version": quote["version"], "channel": channel}
    outcome(rest, rest.send("POST", path, body, role="advisor"), before, order["id"])


@settings(FUZZ, max_examples=6)
@given(
    note=TEXT,
    next_service_date=st.one_of(st.just("2030-06-01"), TEXT),
    comment=TEXT,
    outcome_name=st.one_of(st.sampled_from(["reached", "no_answer"]), TEXT),
    reason=TEXT,
)
def test_handing_over_rating_and_following_up(
    rest: Rest, note: str, next_service_date: str, comment: str, outcome_name: str, reason: str
) -> None:
    order = rest.ready()
    before = rest.last_seq()
    path = f"/desk/api/orders/{order['id']}/customer-link"
    answer = rest.send("POST", path, {"reason": reason}, role="advisor")
    outcome(rest, answer, before, order["id"])
    order = rest.order(order["id"])
    before = rest.last_seq()
    body = {**rest.handover_body(order), "note": note, "next_service_date": next_service_date}
    path = f"/desk/api/orders/{order['id']}/handover"
    outcome(rest, rest.send("POST", path, body, role="advisor"), before, order["id"])
    order = rest.order(order["id"])
    before = rest.last_seq()
    path = f"/api/v1/track/{customer_token(order)}/survey"
    answer = rest.send("POST", path, {"rating": 4, "comment": comment}, role=None)
    outcome(rest, answer, before, order["id"])
    before = rest.last_seq()
    path = f"/desk/api/orders/{order['id']}/follow-ups"
    body = {"outcome": outcome_name, "note": note}
    outcome(rest, rest.send("POST", path, body, role="advisor"), before, order["id"])


@FUZZ
@given(
    action=st.sampled_from(["parts", "pause", "fail", "extra-work"]),
    reason=TEXT,
    pause_reason=st.one_of(st.sampled_from(["parts", "other"]), TEXT),
    description=valid_or_any("漏油"),
)
def test_kiosk_taps(
    rest: Rest, action: str, reason: str, pause_reason: str, description: str
) -> None:
    token = rest.kiosk()
    order = rest.started()
    before = rest.last_seq()
    body: dict[str, Any] = {"version": order["version"]}
    if action == "pause":
        body["pause_reason"] = pause_reason
    elif action == "extra-work":
        body.update(description=description, labour_hours=1.0, price_cents=100)
    else:
        body["reason"] = reason
    answer = rest.send("POST", f"/kiosk/api/orders/{order['id']}/{action}", body, bearer=token)
    outcome(rest, answer, before, order["id"])


@settings(FUZZ, max_examples=30)
@given(moment=TIMESTAMPS)
def test_any_timestamp_is_an_answer(rest: Rest, moment: str) -> None:
    """Near the app's clock it is taken, anywhere else refused; never a 500."""
    before = rest.last_seq()
    answer = rest.send(
        "POST", "/api/v1/orders", {"plate": "粤B12345", "promised_at": moment}, role="advisor"
    )
    outcome(rest, answer, before, answer[1]["id"] if answer[0] == 201 else None)
    parsed = datetime.fromisoformat(moment)
    now = datetime.now(UTC)
    if abs(parsed.replace(tzinfo=None) - now.replace(tzinfo=None)) > timedelta(days=1900):
        assert answer[0] == 422 and answer[1]["field"] == "promised_at", answer
