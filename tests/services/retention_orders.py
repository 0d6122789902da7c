"""Orders for the retention tests, walked through the real services (not the
HTTP layer: a year of them must be quick) on a hand-moved clock.

Each visit has its own customer whose every personal value carries a marker
of ASCII letters and digits (``Visit.markers``), so a test can look for it
anywhere: in rows, in JSON (stored with its non-ASCII escaped), in the raw
bytes of a database file or a backup. Visits that pass through the
additional-work flow get a photo and a signature made here with Pillow
(noise, so their stored bytes are found nowhere else).
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw

from shared.domain.events import WorkItem
from shared.domain.extra_work import QuoteTerms
from shared.domain.order import Actor
from shared.domain.stages import PauseReason, Role, Stage
from shared.persistence.photo_models import QuotePhoto, QuoteSignature
from shared.services import handover, orders, photos, reception, signatures
from shared.services.commands import CommandRequest
from shared.services.core import Core
from tests.conftest import HandClock, parking_lane

# Someone who may do every step (the service manager on a quiet day).
MANAGER = Actor(name="周经理", roles=frozenset({Role.ADMIN}), ref="user:manager")
ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def code(rng: random.Random, length: int = 8) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(length))


@dataclass
class Customer:
    """One customer and their car, every value marked."""

    name: str
    phone: str
    plate: str
    vin: str

    @classmethod
    def new(cls, rng: random.Random) -> Customer:
        return cls(
            name=f"客户XQ{code(rng, 6)}",
            phone="139" + "".join(rng.choice("0123456789") for _ in range(8)),
            plate="粤BY" + code(rng, 4),
            vin="LSV" + code(rng, 14),
        )

    def markers(self) -> list[str]:
        """What identifies them, as found in any encoding: ASCII parts."""
        return [self.name[2:], self.phone, self.plate[1:], self.vin]


# Every marker has one of these shapes (``found_markers``): the name's code,
# the plate after its province, the phone, the VIN, a typed text's tag.
TAGS = ("CMP", "ITM", "CAN", "PAU", "REW", "HND", "SRV", "FUP", "LNK", "QTE", "PRM", "PRT")
MARKER = (
    rf"XQ[A-Z0-9]{{6}}|BY[A-Z0-9]{{4}}|139\d{{8}}|LSV[A-Z0-9]{{14}}|(?:{'|'.join(TAGS)})\d{{4}}"
)
_FIND_TEXT = re.compile(f"(?=({MARKER}))")
_FIND_BYTES = re.compile(f"(?=({MARKER}))".encode())


def found_markers(content: str | bytes) -> set[str]:
    """Every marker-shaped piece of ``content`` (overlapping ones too), in
    one pass: a test intersects it with the markers it looks for."""
    if isinstance(content, bytes):
        return {found.decode() for found in _FIND_BYTES.findall(content)}
    return set(_FIND_TEXT.findall(content))


@dataclass
class Visit:
    """One order of a customer and what was typed about it."""

    order_id: int
    customer: Customer
    stage: str
    texts: list[str] = field(default_factory=list)
    pictures: list[bytes] = field(default_factory=list)

    def markers(self) -> list[str]:
        return self.customer.markers() + self.texts


def typed(visit: Visit, words: str, tag: str, mark: str) -> str:
    """A text someone types about the visit: ``words`` and its marker, which
    the visit remembers."""
    marker = f"{tag}{mark}"
    visit.texts.append(marker)
    return f"{words} {marker}"


def noise_picture(rng: random.Random, size: tuple[int, int] = (48, 36)) -> bytes:
    image = Image.frombytes(
        "RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3))
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def signature_picture(rng: random.Random) -> bytes:
    image = Image.new("L", (160, 60), 255)
    pen = ImageDraw.Draw(image)
    points = [(rng.randrange(160), rng.randrange(60)) for _ in range(12)]
    pen.line(points, fill=0, width=3)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class Walker:
    """Walks orders of one shop through the services on ``clock``."""

    def __init__(self, core: Core, shop_id: int, technician: int, clock: HandClock) -> None:
        self.core = core
        self.shop_id = shop_id
        self.technician = technician
        self.clock = clock
        self.request = CommandRequest(MANAGER, shop_id)
        self.lane = parking_lane(core, shop_id)

    def _version(self, answer: dict[str, Any]) -> int:
        return int(answer.get("order", answer)["version"])

    def _move(
        self, order: dict[str, Any], to: Stage, reason: str = "", **more: Any
    ) -> dict[str, Any]:
        self.clock.advance(minutes=7)
        return orders.transition_order(
            self.core,
            self.request,
            order["id"],
            to=to,
            version=self._version(order),
            reason=reason,
            **more,
        ).body

    def open(
        self, rng: random.Random, customer: Customer, *, mark: str
    ) -> tuple[dict[str, Any], list[str]]:
        complaint = f"异响 CMP{mark}"
        item = f"保养 ITM{mark}"  # the markers: CMP…, ITM…
        answer = orders.create_order(
            self.core,
            self.request,
            plate=customer.plate,
            customer_name=customer.name,
            customer_phone=customer.phone,
            vehicle_model="丰田凯美瑞",
            vehicle_vin=customer.vin,
            vehicle_mileage=rng.randrange(1000, 200000),
            complaint=complaint,
            items=[WorkItem(item, 1.5)],
            promised_at=self.clock.now + timedelta(hours=6),
        ).body
        return answer, [f"CMP{mark}", f"ITM{mark}"]

    def walk(
        self,
        rng: random.Random,
        customer: Customer,
        *,
        mark: str,
        end: str = "delivered",
        survey: bool | None = None,
    ) -> Visit:
        """One order from reception to ``end`` (delivered, cancelled, or an
        active stage: in_progress), with the side paths ``rng`` picks (the
        survey after delivery too, unless ``survey`` says)."""
        order, texts = self.open(rng, customer, mark=mark)
        visit = Visit(order["id"], customer, end, texts)
        if end == "cancelled":
            reason = typed(visit, "客户改期", "CAN", mark)
            self._move(order, Stage.CANCELLED, reason)
            return visit
        self.clock.advance(minutes=10)
        order = orders.assign_order(
            self.core,
            self.request,
            order["id"],
            bay=self.lane,
            technicians=[self.technician],
            version=order["version"],
        ).body
        order = self._move(order, Stage.IN_PROGRESS)
        if end == "in_progress":
            return visit
        side = rng.random()
        if side < 0.3:
            order = self._extra_work(rng, order, visit, mark)
        elif side < 0.45:
            order = self._parts(order, visit, mark)
        elif side < 0.6:
            note = typed(visit, "等客户回电", "PAU", mark)
            order = self._move(order, Stage.PAUSED, note, pause_reason=PauseReason.OTHER)
            order = self._move(order, Stage.IN_PROGRESS)
        order = self._move(order, Stage.QUALITY_CHECK)
        if rng.random() < 0.2:
            reason = typed(visit, "刹车异响未除", "REW", mark)
            order = self._move(order, Stage.IN_PROGRESS, reason)
            order = self._move(order, Stage.QUALITY_CHECK)
        for _level in range(3):
            self.clock.advance(minutes=5)
            order = orders.pass_check(
                self.core, self.request, order["id"], version=order["version"]
            ).body
        if rng.random() < 0.15:
            reason = typed(visit, "客户丢了接车单", "LNK", mark)
            reception.reissue_customer_token(self.core, self.request, order["id"], reason=reason)
        self.clock.advance(minutes=20)
        note = typed(visit, "客户说下次换轮胎", "HND", mark)
        handover.hand_over(
            self.core,
            self.request,
            order["id"],
            version=order["version"],
            old_parts_shown=True,
            next_service_date=date(2099, 1, 1),
            next_service_mileage=999999,
            final_check_done=True,
            note=note,
        )
        rated = rng.random() < 0.5
        if rated if survey is None else survey:
            self.clock.advance(hours=2)
            comment = typed(visit, "很满意", "SRV", mark)
            orders.submit_survey(
                self.core, self.request, order["id"], rating=rng.randint(1, 5), comment=comment
            )
        if rng.random() < 0.3:
            note = typed(visit, "已回访", "FUP", mark)
            reception.record_follow_up(
                self.core, self.request, order["id"], outcome="reached", note=note
            )
        return visit

    def _extra_work(
        self, rng: random.Random, order: dict[str, Any], visit: Visit, mark: str
    ) -> dict[str, Any]:
        description = typed(visit, "左前刹车片磨损", "QTE", mark)
        self.clock.advance(minutes=15)
        quote = orders.quote_extra_work(
            self.core,
            self.request,
            order["id"],
            QuoteTerms(description=description, labour_hours=1.0, price_cents=48000),
            version=order["version"],
        ).body
        photos.attach_photo(self.core, self.request, order["id"], quote["id"], noise_picture(rng))
        if rng.random() < 0.5:
            reason = typed(visit, "客户说晚点取车", "PRM", mark)
            orders.change_promise(
                self.core,
                self.request,
                order["id"],
                promised_at=self.clock.now + timedelta(hours=9),
                reason=reason,
                version=quote["order"]["version"],
            )
        self.clock.advance(minutes=10)
        decided = orders.decide_extra_work(
            self.core,
            self.request,
            order["id"],
            quote_id=quote["id"],
            approved=True,
            quote_version=quote["version"],
            channel="in_person",
        ).body
        signatures.store_signature(
            self.core, self.request, order["id"], quote["id"], signature_picture(rng)
        )
        with self.core.db.read() as session:
            for model in (QuotePhoto, QuoteSignature):
                stored = session.query(model.data).filter(model.order_id == order["id"]).scalar()
                visit.pictures.append(bytes(stored))
        return self._move(decided, Stage.IN_PROGRESS)

    def _parts(self, order: dict[str, Any], visit: Visit, mark: str) -> dict[str, Any]:
        description = typed(visit, "机油滤芯", "PRT", mark)
        self.clock.advance(minutes=15)
        part = orders.request_parts(
            self.core,
            self.request,
            order["id"],
            description=description,
            eta=None,
            version=order["version"],
        ).body
        self.clock.advance(minutes=40)
        orders.change_parts_status(
            self.core, self.request, order["id"], part_id=part["id"], status="arrived", eta=None
        )
        return self._move(orders_get(self.core, order["id"]), Stage.IN_PROGRESS)


def orders_get(core: Core, order_id: int) -> dict[str, Any]:
    """The order's version as stored (after a command whose answer is not the order)."""
    from shared.persistence.models import RepairOrder

    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        assert row is not None
        return {"id": row.id, "version": row.version}


def at_local_morning(day: date, hour: int = 9) -> datetime:
    """``hour`` o'clock in Shanghai on ``day``, in UTC."""
    return datetime(day.year, day.month, day.day, hour - 8, 0, tzinfo=UTC)
