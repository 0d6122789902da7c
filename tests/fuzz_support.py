"""The schema-driven fuzz of the REST API (tests/test_fuzz_api*.py): the
Schemathesis configuration, the seeded shop it runs against, and what each
generated case must satisfy.

The fuzz runs every operation of the document; its paths (each with all its
operations) are dealt to ``PARTS`` test files, about evenly, so that
``--dist loadfile`` spreads the fuzz over the workers instead of one worker
running all of it. Each file fuzzes its share against a shop of its own (the
same seeding), with the same examples per operation (the run is derandomised
per operation) and the same checks. ``test_every_operation_is_fuzzed``
(tests/test_fuzz_api.py) holds the parts to the whole document.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.schemas import BaseSchema

from shared.config import Settings
from shared.services.auth import create_api_token
from shared.web.extensions import limiter
from shared.web.openapi import document
from shared.web.parsing import TIME_WINDOW
from tests.conftest import Shop, migrated_copy, seed_shop
from tests.hypothesis_printer import restore_example_printer, schemathesis_printer

# Examples per operation and phase; the whole run stays well under two minutes.
MAX_EXAMPLES = 50
# Placeholders the generator picks for a customer token; each test swaps them
# for the real capability tokens of the seeded orders (known only at run time).
CUSTOMER_TOKENS = ("customer-0", "customer-1", "customer-2")
# A fresh SQLite database numbers the seeded rows from 1.
SEEDED_ORDERS = (1, 2, 3)
SEEDED_QUOTES = (1,)
SEEDED_PARTS = (1,)
# What tests.conftest.seed_shop creates.
SEEDED_BAYS = ("B01", "B02", "B03")
SEEDED_TECHNICIANS = (1, 2)

# The app's clock stands still at this instant, so that timestamps the
# generator draws are judged the same way on every run.
CLOCK = datetime(2030, 3, 4, 9, 30, tzinfo=UTC)
# A schema-valid Idempotency-Key (the document's pattern and length).
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")

# Timestamps a client sends must lie within TIME_WINDOW of the server's clock
# (the document says so in words; JSON Schema cannot say it): generated ones
# do, with the offsets a client may use.
schemathesis.openapi.format(
    "date-time",
    st.builds(
        lambda at, offset: at.astimezone(timezone(offset)).isoformat(),
        st.datetimes(
            min_value=(CLOCK - TIME_WINDOW + timedelta(days=1)).replace(tzinfo=None),
            max_value=(CLOCK + TIME_WINDOW - timedelta(days=1)).replace(tzinfo=None),
            timezones=st.just(UTC),
        ),
        st.sampled_from([timedelta(0), timedelta(hours=8), timedelta(hours=-5, minutes=-30)]),
    ),
)

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20240611,
        # Requests go to the app in process; the host only fills the URL.
        "base-url": "http://localhost",
        # Hypothesis health checks about slow or heavily filtered generation
        # say nothing about the API; the run is bounded by MAX_EXAMPLES.
        "suppress-health-check": [
            "filter_too_much",
            "too_slow",
            "data_too_large",
            "large_base_example",
        ],
        "dictionaries": {
            "orders": {"values": list(SEEDED_ORDERS)},
            "quotes": {"values": list(SEEDED_QUOTES)},
            "parts": {"values": list(SEEDED_PARTS)},
            "tokens": {"values": list(CUSTOMER_TOKENS)},
            "bays": {"values": list(SEEDED_BAYS)},
            "technicians": {"values": list(SEEDED_TECHNICIANS)},
        },
        "parameters": {
            "path.order_id": {"dictionary": "orders", "probability": 0.7},
            "path.quote_id": {"dictionary": "quotes", "probability": 0.7},
            "path.part_id": {"dictionary": "parts", "probability": 0.7},
            "path.token": {"dictionary": "tokens", "probability": 0.7},
            # A dispatch names a bay and technicians of the shop; any other
            # is rightly refused (422 naming the field), so valid requests
            # name real ones.
            "body.bay": {"dictionary": "bays", "probability": 1.0},
            "body.technicians[*]": {"dictionary": "technicians", "probability": 1.0},
        },
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            # The credential is a real token sent by the test, not a generated one.
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
        "operations": [
            {
                # Valid-looking input these refuse with 422 naming the field,
                # for reasons no schema can carry: only a readable picture is
                # a photo, only a readable PNG with a stroke on it a
                # signature; a dispatch names a bay and technicians of this
                # shop (the fuzzing phase draws real ones, the coverage phase
                # boundary values); a parts request that arrived moves no more
                # (the fuzz's first valid "arrived" ends the seeded one).
                "include-operation-id": [
                    "attachQuotePhoto",
                    "putQuoteSignature",
                    "assignOrder",
                    "changePartsStatus",
                ],
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
            {
                # The same for rules between fields or against the shop's
                # state or clock, which the schemas do not carry: a new
                # promise lies in the future; a badge comes with its PIN; a
                # report's range is at most three years and ends after it
                # starts; a comeback names an earlier visit of the same car.
                # Their refusals have tests of their own; a new Hypothesis
                # release draws other examples, and these reached them.
                "include-operation-id": [
                    "changePromise",
                    "addStaff",
                    "updateStaff",
                    "getReportSummary",
                    "getReportTechnicians",
                    "getReportAdvisors",
                    "listReportOrders",
                    "exportReportOrdersCsv",
                    "exportReportOrdersXlsx",
                    "flagComeback",
                    "listLabourExceptions",
                    "exportLabourExceptions",
                ],
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
        ],
    }
)

schema = schemathesis.openapi.from_dict(document(), config=CONFIG)
restore_example_printer()

# The test files the paths are dealt to (tests/test_fuzz_api.py and
# tests/test_fuzz_api_part{2..PARTS}.py).
PARTS = 4
OPERATION_IDS = tuple(
    operation["operationId"]
    for methods in schema.raw_schema["paths"].values()
    for operation in methods.values()
    if isinstance(operation, dict) and "operationId" in operation
)


def _operations_of(methods: dict[str, Any]) -> int:
    return sum(isinstance(op, dict) and "operationId" in op for op in methods.values())


def _deal_paths() -> tuple[tuple[str, ...], ...]:
    """Whole paths, never single operations: the checks about methods a path
    does not document (405, ``Allow``) read the path's other operations.
    Each path in the document's order goes to the part with the fewest
    operations so far (the first of equals), so the parts are about even."""
    dealt: list[list[str]] = [[] for _ in range(PARTS)]
    counts = [0] * PARTS
    for path, methods in schema.raw_schema["paths"].items():
        lightest = counts.index(min(counts))
        dealt[lightest].append(path)
        counts[lightest] += _operations_of(methods)
    return tuple(tuple(paths) for paths in dealt)


PATHS_OF_PART = _deal_paths()


def part(number: int) -> BaseSchema:
    """The schema of part ``number`` (1..PARTS): the document with only that
    part's paths, loaded with the same configuration. (Schemathesis'
    ``include`` does not narrow what ``parametrize`` generates.)"""
    assert 1 <= number <= PARTS
    narrowed = copy.deepcopy(schema.raw_schema)
    kept = set(PATHS_OF_PART[number - 1])
    narrowed["paths"] = {p: item for p, item in narrowed["paths"].items() if p in kept}
    return schemathesis.openapi.from_dict(narrowed, config=CONFIG)


@dataclass
class Target:
    app: Any
    shop: Shop
    customer_tokens: dict[str, str]
    bearers: dict[str, dict[str, str]] = field(default_factory=dict)
    requests: Iterator[int] = field(default_factory=itertools.count)

    def bearer(self, operation: str) -> dict[str, str]:
        """An admin token of the operation's own: each operation has its own
        rate-limit budget, so the run tests answers, not the limiter."""
        if operation not in self.bearers:
            token = create_api_token(
                self.shop.core, shop_id=self.shop.shop_id, role="admin", name="fuzz"
            )
            self.bearers[operation] = {"Authorization": f"Bearer {token}"}
        return self.bearers[operation]


def _seed_orders(client: Any, shop: Shop) -> list[str]:
    """Orders 1-3 (one paused, waiting for pending quote 1 and parts request 1);
    their customer tokens."""
    admin = shop.headers("admin")
    ids: list[int] = []
    tokens: list[str] = []
    for index in range(len(SEEDED_ORDERS)):
        created = client.post(
            "/api/v1/orders",
            json={"plate": f"粤B1000{index}", "items": [{"title": "保养", "labour_hours": 1}]},
            headers=admin,
        ).get_json()
        ids.append(created["id"])
        tokens.append(created["customer_url"].rsplit("/", 1)[1])
    assert tuple(ids) == SEEDED_ORDERS
    first = ids[0]
    assigned = client.put(
        f"/api/v1/orders/{first}/assignment",
        json={"bay": shop.bays[0], "technicians": [shop.technicians[0]], "version": 1},
        headers=admin,
    ).get_json()
    moved = client.post(
        f"/api/v1/orders/{first}/transitions",
        json={"to": "in_progress", "version": assigned["version"]},
        headers=admin,
    ).get_json()
    quote = client.post(
        f"/api/v1/orders/{first}/extra-work",
        json={
            "description": "brake pads",
            "labour_hours": 0.5,
            "price_cents": 12000,
            "version": moved["version"],
        },
        headers=admin,
    ).get_json()
    assert (quote["id"],) == SEEDED_QUOTES
    part = client.post(
        f"/api/v1/orders/{first}/parts", json={"description": "刹车片"}, headers=admin
    ).get_json()
    assert (part["id"],) == SEEDED_PARTS
    return tokens


def serve_target(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[Target]:
    """One app and shop for a file's whole run (its module-scoped fixture):
    state builds up as in real use. The database is a copy of the session's
    migrated template (no rows yet)."""
    from shared.web.app import create_app

    folder: Path = tmp_path_factory.mktemp("fuzz")
    settings = Settings.from_env(
        {},
        database_url=migrated_copy(migrated_template, folder / "baylight.db"),
        instance_path=folder,
        async_mode="threading",
        testing=True,
        public_url="http://127.0.0.1:5000",
    )
    app, _socketio = create_app(settings)
    core = app.extensions["baylight"]
    core.clock = lambda: CLOCK
    shop = seed_shop(core)
    assert (tuple(shop.bays), tuple(shop.technicians)) == (SEEDED_BAYS, SEEDED_TECHNICIANS)
    client = app.test_client()
    served = client.get("/api/v1/openapi.json").get_json()
    assert served == schema.raw_schema, "the fuzzed document is the one the app serves"
    tokens = _seed_orders(client, shop)
    yield Target(app, shop, dict(zip(CUSTOMER_TOKENS, tokens, strict=True)))
    core.db.dispose()


@pytest.fixture
def silent_examples() -> Iterator[None]:
    """Each fuzz case runs with Schemathesis' printer, which prints no value
    (tests/hypothesis_printer.py says why); every other test has
    Hypothesis' own."""
    with schemathesis_printer():
        yield


def answer_as_documented(case: Case, target: Target) -> None:
    """One generated case sent to the app; the answer must be one the
    document promises (Schemathesis' checks)."""
    token = (case.path_parameters or {}).get("token")
    if token in target.customer_tokens:
        case.path_parameters["token"] = target.customer_tokens[token]
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and IDEMPOTENCY_KEY.fullmatch(key):
        # The generator repeats short keys ("0") with other bodies: a valid
        # key is made unique, so the request reaches the operation instead
        # of the (documented) idempotency_key_reuse refusal every time.
        case.headers["Idempotency-Key"] = f"{next(target.requests)}-{key}"[:255]
    # Unauthenticated callers (customer links, pairing) share one budget per
    # address; the limits have tests of their own.
    with target.app.app_context():
        limiter.reset()
    # The document was loaded as data; its requests (and the probes some
    # checks send on their own) go to this app through WSGI.
    case.operation.schema.app = target.app
    case.call_and_validate(app=target.app, headers=target.bearer(case.operation.label))
