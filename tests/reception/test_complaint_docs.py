"""docs/EVENTS.md describes the complaint log and the ``complaint`` live
message as the code writes them (tests/test_openapi.py does the same for
the order's events): each complaint event type has its row naming every
field of its data, and the message names the fields it carries."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from shared.domain import complaints as rules
from shared.services import complaints, reception
from shared.services.core import Core
from tests.test_openapi import _table_row

from .test_complaints import Recorder, as_, delivered

EVENTS_MD = Path(__file__).resolve().parents[2] / "docs" / "EVENTS.md"


def test_events_md_has_a_row_for_every_complaint_event_naming_its_fields() -> None:
    text = EVENTS_MD.read_text(encoding="utf-8")
    for type_name, cls in rules.EVENT_TYPES.items():
        row = _table_row(text, type_name)
        missing = [f.name for f in fields(cls) if f.name != "at" and f"`{f.name}`" not in row]
        assert not missing, f"docs/EVENTS.md: {type_name} does not name {missing}"


def test_the_complaint_message_carries_what_events_md_says(
    client: Any, core: Core, shop: Any
) -> None:
    text = EVENTS_MD.read_text(encoding="utf-8")
    documented = re.search(r"\*\*`complaint`\*\* `\{([^}]*)\}`", text)
    assert documented, "docs/EVENTS.md: no `complaint` message"
    order = delivered(client, shop)
    recorder = Recorder()
    core.publisher.emitter = recorder
    reception.record_follow_up(
        core, as_(shop, "advisor"), order["id"], outcome="complaint", note="洗车没洗干净"
    )
    [(data, room)] = [
        (d, to) for event, d, to in recorder.sent if event == complaints.COMPLAINT_MESSAGE
    ]
    assert sorted(data) == sorted(name.strip() for name in documented.group(1).split(","))
    assert room == f"staff:{shop.shop_id}"
