"""A bay taken out of service takes no car: the foreman's dispatch to it is
refused with the reason, and works again once the bay is back."""

from __future__ import annotations

from typing import Any

from tests.request_flow import Rest


def test_a_dispatch_to_a_bay_out_of_service_is_refused_with_its_reason(
    client: Any, shop: Any, core: Any
) -> None:
    rest = Rest(client, shop, core)
    bay = shop.bays[0]
    rest.ok("PATCH", f"/api/v1/bays/{bay}", {"in_service": False, "reason": "举升机维修"})
    order = rest.create()
    body = {"bay": bay, "technicians": [shop.technicians[0]], "version": order["version"]}
    status, answer = rest.send(
        "PUT", f"/api/v1/orders/{order['id']}/assignment", body, role="foreman"
    )
    assert status == 409, answer
    assert (answer["code"], answer["bay"], answer["reason"]) == (
        "bay_out_of_service",
        bay,
        "举升机维修",
    )
    assert rest.order(order["id"])["bay"] is None
    rest.ok("PATCH", f"/api/v1/bays/{bay}", {"in_service": True})
    assigned = rest.ok("PUT", f"/api/v1/orders/{order['id']}/assignment", body, role="foreman")
    assert assigned["bay"] == bay
