"""The reprinted job ticket lists the additional work the customer approved:
what, the price, the version agreed, how and when, who took it, and the
customer's signature when they signed at the desk. Real app and database;
the page is read as the browser gets it."""

from __future__ import annotations

from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import Shop

from .conftest import Flow, decide, signature_path, signature_png


class Quotes(HTMLParser):
    """Each ``dl.quote`` of the ticket: its dd texts by class, and its images."""

    def __init__(self) -> None:
        super().__init__()
        self.quotes: dict[int, dict[str, Any]] = {}
        self._quote: dict[str, Any] | None = None
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "dl" and "quote" in (found.get("class") or "").split():
            self._quote = {"images": []}
            self.quotes[int(found["data-quote-id"] or 0)] = self._quote
        elif self._quote is not None and tag == "dd":
            self._field = found.get("class") or ""
            self._quote[self._field] = ""
        elif self._quote is not None and tag == "img":
            self._quote["images"].append(found)

    def handle_endtag(self, tag: str) -> None:
        if tag == "dd":
            self._field = None
        elif tag == "dl":
            self._quote = None

    def handle_data(self, data: str) -> None:
        if self._quote is not None and self._field is not None:
            self._quote[self._field] += data


def ticket(client: Any, shop: Shop, order_id: int, **query: str) -> tuple[str, dict[int, Any]]:
    page = client.get(
        f"/orders/{order_id}/ticket",
        query_string={"lang": "en", **query},
        headers=shop.headers("advisor"),
    )
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    parsed = Quotes()
    parsed.feed(html)
    return html, parsed.quotes


def local(iso: str) -> str:
    return (
        datetime.fromisoformat(iso).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    )


def test_the_ticket_lists_approved_work_with_how_it_was_agreed_and_the_signature(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order(quotes=4)
    flow.call(
        "PUT",
        f"/api/v1/orders/{order['id']}/extra-work/1",
        "advisor",
        {
            "description": "刹车片和刹车盘",
            "labour_hours": 2,
            "price_cents": 98050,
            "quote_version": 1,
        },
    )
    decide(flow, order, 1, version=2)
    decide(flow, order, 2, channel="phone")
    decide(flow, order, 3, approved=False)
    html, quotes = ticket(photo_client, shop, order["id"])
    assert "extra-work" in html
    # Approved only: the declined and the pending quote are no work to do.
    assert sorted(quotes) == [1, 2]
    assert all(q["images"] == [] for q in quotes.values()), "nothing signed yet"

    signed = photo_client.put(
        signature_path(order["id"]),
        data=signature_png((900, 300)),
        content_type="image/png",
        headers=shop.headers("advisor", "ticket-sign"),
    )
    assert signed.status_code == 201
    decided = {
        q["id"]: q for q in flow.call("GET", f"/api/v1/orders/{order['id']}", "advisor")["quotes"]
    }
    for paper in ("a5", "80mm"):
        _html, quotes = ticket(photo_client, shop, order["id"], paper=paper)
        in_person, by_phone = quotes[1], quotes[2]
        assert in_person["description"] == "刹车片和刹车盘"
        assert in_person["price"] == "¥980.50"
        assert in_person["version"] == "v2"
        assert "In person" in in_person["decision"]
        assert local(decided[1]["decided_at"]) in in_person["decision"]
        assert in_person["taken-by"] == decided[1]["taken_by"] == "test advisor"
        [image] = in_person["images"]
        assert image["src"] == signature_path(order["id"])
        assert image["width"] == "240" and "刹车片和刹车盘" in (image["alt"] or "")

        assert by_phone["description"] == "刹车片磨损 2"
        assert (by_phone["price"], by_phone["version"]) == ("¥680.00", "v1")
        assert "By phone" in by_phone["decision"]
        assert local(decided[2]["decided_at"]) in by_phone["decision"]
        assert by_phone["taken-by"] == "test advisor"
        assert by_phone["images"] == []

    # The printed image is the stored signature, for whoever prints the ticket.
    picture = photo_client.get(image["src"], headers=shop.headers("advisor"))
    assert picture.status_code == 200 and picture.mimetype == "image/png"


def test_a_ticket_without_approved_work_shows_no_section(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order()
    html, quotes = ticket(photo_client, shop, order["id"])
    assert quotes == {} and 'id="extra-work"' not in html
