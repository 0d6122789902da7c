"""What the foreman's data endpoint adds for dispatching (GET
/foreman/api/overview): each bay's cars by the placement rule, each
technician's qualifications and load; the shared read functions other
screens use keep their shapes."""

from __future__ import annotations

from typing import Any

from shared.services import queries, setup
from tests.kiosk.test_kiosk_api import foreman_session


def test_bays_carry_their_cars_and_technicians_their_qualifications_and_load(
    client: Any, shop: Any, core: Any, api: Any
) -> None:
    wang, li = shop.technicians
    setup.add_bay(core, shop.shop_id, "W1", "洗车位", kind="wash", capacity=2)
    shared = api.assign(api.create("粤B40001", hours=2.0), [wang, li], bay="B01")
    started = api.assign(api.create("粤B40002", hours=1.0), [wang], bay="B02")
    status, started = api.move(started, "in_progress")
    assert status == 200, started
    queued = api.create("粤B40003", hours=3.0)
    foreman_session(client, core, shop)

    overview = client.get("/foreman/api/overview").get_json()

    holders = {bay["code"]: bay["holders"] for bay in overview["bays"]}
    assert holders == {
        "B01": [{"id": shared["id"], "number": shared["number"], "plate": "粤B40001"}],
        "B02": [{"id": started["id"], "number": started["number"], "plate": "粤B40002"}],
        "B03": [],
        "W1": [],
    }
    assert {b["code"]: (b["kind"], b["capacity"]) for b in overview["bays"]}["W1"] == ("wash", 2)
    people = {t["id"]: t for t in overview["technicians"]}
    assert people[li]["qualifications"] == ["team_lead", "qc_inspector"]
    assert people[wang]["qualifications"] == []
    # A job shared by two counts half its hours left to each; the queued car to nobody.
    assert people[li]["load"] == {"jobs": 1, "remaining_hours": 1.0}
    assert people[wang]["load"] == {"jobs": 2, "remaining_hours": 2.0}
    assert queued["id"] in [o["id"] for o in overview["queue"]]
    assert people[wang]["state"] == "working" and people[li]["state"] == "idle"

    # The other screens' reads are as they were.
    assert all("holders" not in bay for bay in queries.list_bays(core, shop.shop_id))
    assert all(
        set(t) == {"id", "name", "badge", "qualifications"}
        for t in queries.list_technicians(core, shop.shop_id)
    )
