"""The demo shop: a realistic mid-morning workshop, built through the real services.

Every seeded order is opened and moved by the same commands a person would
use, so its event log is real and replays to the row. Each command runs on a
seeding clock set to a moment in the last few hours, in the order those moments
occur across all orders, so the board shows believable time in stage, late
jobs, the day's queue numbers, and ``seq`` follows time.

The vocabulary (plates, cars, complaints, reasons) lives here too, because the
simulator opens new orders from the same catalogue.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.domain import stages
from shared.domain.errors import ValidationFailed
from shared.domain.eta import suggest_promised_at
from shared.domain.events import WorkItem
from shared.domain.extra_work import QuoteTerms
from shared.domain.labour import ClockConflict
from shared.domain.new_order import Customer, NewOrder, Vehicle
from shared.domain.order import Actor
from shared.domain.stages import CHECK_CHAIN, PauseReason, Role, Stage
from shared.persistence.models import Bay, RepairOrder, StaffUser
from shared.services import orders, setup, shop_profile
from shared.services.auth import create_api_token, hash_pin, verify_pin
from shared.services.commands import CommandRequest, Outcome
from shared.services.core import Core

DEMO_SLUG = "demo"
SHOP_NAME = "Baylight 示范店"
SHOP_ADDRESS = "广州市天河区示范路 88 号"
SHOP_HOTLINE = "020-8888 6666"
TIMEZONE = "Asia/Shanghai"
ADVISOR_NAME = "advisor"
ADVISOR_PASSWORD = "demo-advisor-1"
ADMIN_NAME = "admin"
ADMIN_PASSWORD = "demo-admin-1"
FOREMAN_PASSWORD = "demo-foreman-1"
MANAGER_PASSWORD = "demo-manager-1"
TECHNICIAN_PIN = "1234"
DEMO_ACTOR = Actor(name="演示/demo", roles=frozenset({Role.SYSTEM}), ref="system:demo")
# Fixed so that every fresh demo looks the same (times aside: they follow the clock).
SEED = 20240917

# Bays that take ordinary repair work; the wash bay is where cars are cleaned.
WORK_BAY_KINDS = ("general", "quick")
QUICK_JOB_HOURS = 1.5


@dataclass(frozen=True)
class OfficeLogin:
    """A demo colleague who signs in at /login?shop=demo with a password."""

    role: str
    name: str
    password: str


@dataclass(frozen=True)
class KioskLogin:
    """A demo technician who signs in on a paired kiosk with badge and PIN."""

    name: str
    badge: str
    pin: str


@dataclass(frozen=True)
class Seeded:
    """What the demo server prints: where to look and how to sign in. The
    logins are read back from the shop as it is (active people only), so
    what is printed is what signs in."""

    shop_name: str
    shop_id: int
    admin_token: str
    advisor_name: str
    advisor_password: str
    office: tuple[OfficeLogin, ...] = ()
    technicians: tuple[KioskLogin, ...] = ()
    shop_slug: str = DEMO_SLUG


# ---------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class VehicleModel:
    """A car model as reception writes it, with the maker's VIN prefix (WMI)."""

    name: str
    wmi: str
    electric: bool = False


@dataclass(frozen=True)
class Job:
    """What the customer says (问诊) and the work items the advisor writes for it."""

    complaint: str
    items: tuple[WorkItem, ...]
    # "ice" jobs need an engine, "ev" jobs a traction battery; "any" fits every car.
    fits: str = "any"
    mileage: tuple[int, int] = (8_000, 160_000)

    @property
    def hours(self) -> float:
        return sum(item.labour_hours for item in self.items)


@dataclass(frozen=True)
class ExtraWork:
    """Additional work a technician finds under the car (作业中发现新项目)."""

    description: str
    labour_hours: float
    price_cents: int


def _items(*pairs: tuple[str, float]) -> tuple[WorkItem, ...]:
    return tuple(WorkItem(title, hours) for title, hours in pairs)


MODELS: tuple[VehicleModel, ...] = (
    VehicleModel("丰田凯美瑞", "LVG"),
    VehicleModel("丰田卡罗拉", "LFM"),
    VehicleModel("本田雅阁", "LHG"),
    VehicleModel("本田CR-V", "LVH"),
    VehicleModel("大众帕萨特", "LSV"),
    VehicleModel("大众迈腾", "LFV"),
    VehicleModel("日产轩逸", "LGB"),
    VehicleModel("别克君越", "LSG"),
    VehicleModel("宝马5系", "LBV"),
    VehicleModel("奔驰C级", "LE4"),
    VehicleModel("奥迪A6L", "LFV"),
    VehicleModel("吉利星越L", "L6T"),
    VehicleModel("比亚迪汉", "LGX", electric=True),
    VehicleModel("比亚迪海豹", "LGX", electric=True),
    VehicleModel("特斯拉Model 3", "LRW", electric=True),
    VehicleModel("蔚来ET5", "LJ1", electric=True),
    VehicleModel("小鹏P7", "LMV", electric=True),
)

JOBS: tuple[Job, ...] = (
    Job(
        "5万公里保养",
        _items(
            ("更换机油机滤", 0.5),
            ("更换空气滤芯", 0.5),
            ("更换火花塞", 1.0),
        ),
        fits="ice",
        mileage=(48_000, 52_000),
    ),
    Job(
        "首次保养",
        _items(("首保检查", 1.0)),
        mileage=(4_500, 6_000),
    ),
    Job(
        "常规保养",
        _items(("更换机油机滤", 0.5), ("全车检查", 0.5)),
        fits="ice",
    ),
    Job(
        "刹车异响",
        _items(("检查制动系统", 0.5), ("更换前刹车片", 1.5)),
    ),
    Job(
        "空调不制冷",
        _items(("空调系统检漏", 1.0), ("加注冷媒", 0.5)),
    ),
    Job(
        "发动机故障灯亮",
        _items(("故障诊断", 1.0), ("更换点火线圈", 1.0)),
        fits="ice",
    ),
    Job(
        "变速箱换挡顿挫",
        _items(("更换变速箱油", 1.5), ("电脑匹配", 0.5)),
        fits="ice",
    ),
    Job(
        "更换轮胎",
        _items(("更换四条轮胎", 1.0), ("动平衡", 0.5)),
    ),
    Job(
        "方向盘抖动",
        _items(("四轮定位", 1.0), ("动平衡", 0.5)),
    ),
    Job(
        "底盘异响",
        _items(
            ("底盘检查", 1.0),
            ("更换前稳定杆连杆", 2.0),
        ),
    ),
    Job(
        "后保险杠刮擦",
        _items(("后保险杠钣金", 3.0), ("喷漆", 4.0)),
    ),
    Job(
        "续航里程下降",
        _items(
            ("动力电池检测", 2.0),
            ("系统软件升级", 0.5),
        ),
        fits="ev",
    ),
    Job(
        "充电口无法充电",
        _items(("充电系统诊断", 1.5), ("更换充电口", 2.0)),
        fits="ev",
    ),
    Job(
        "年检前检测",
        _items(("安全检测", 1.0)),
    ),
    Job(
        "雨刮器异响",
        _items(("更换雨刮片", 0.5)),
    ),
)

EXTRA_WORK: tuple[ExtraWork, ...] = (
    ExtraWork("前刹车盘磨损，建议更换", 1.0, 68_000),
    ExtraWork("空调滤芯脏污，建议更换", 0.5, 18_000),
    ExtraWork("蓄电池电量不足，建议更换", 0.5, 75_000),
    ExtraWork("雨刮片老化，建议更换", 0.5, 12_000),
    ExtraWork("右前减震器漏油", 1.5, 120_000),
    ExtraWork("轮胎鼓包，建议更换一条轮胎", 0.5, 90_000),
)

PARTS_WAITS = (
    "前刹车片",
    "点火线圈",
    "配件在途，预计下午到货",
)
OTHER_PAUSES = (
    "等待专用工具",
    "技师用餐",
    "等待路试",
)
CHECK_FAILURES = (
    "刹车仍有轻微异响",
    "机油液位偏低",
    "轮胎气压未调整",
    "故障码未清除",
)
CANCEL_REASONS = (
    "客户改约到下周",
    "客户决定暂不维修",
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余"
GIVEN_NAMES = ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "涛", "明")
TITLES = ("先生", "女士")
# Shenzhen dealer: most cars are local (粤B), some from elsewhere.
REGIONS = ("粤B", "粤B", "粤B", "粤B", "粤A", "粤S", "京A", "沪C", "浙A", "苏E", "湘A")
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on plates
VIN_CHARACTERS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O or Q in a VIN

TECHNICIANS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("王建国", ("team_lead",)),
    ("李明", ()),
    ("张伟", ()),
    ("刘洋", ()),
    ("陈志强", ("team_lead", "qc_inspector")),
    ("杨帆", ()),
    ("赵磊", ()),
    ("黄海涛", ("qc_inspector",)),
    ("周斌", ()),
    ("吴军", ()),
)
OFFICE: tuple[tuple[str, str, str], ...] = (
    # (role, name, password): everyone who works at /login, printed at start.
    ("admin", ADMIN_NAME, ADMIN_PASSWORD),
    ("manager", "钱丽华", MANAGER_PASSWORD),
    ("foreman", "孙卫东", FOREMAN_PASSWORD),
    ("advisor", ADVISOR_NAME, ADVISOR_PASSWORD),
)


def _bays() -> list[tuple[str, str, str]]:
    """(code, name, kind): nine general bays, two quick-service bays, one wash bay."""
    bays = [(f"B{n:02d}", f"{n}号工位", "general") for n in range(1, 10)]
    bays += [("B10", "10号工位 快保", "quick"), ("B11", "11号工位 快保", "quick")]
    bays.append(("B12", "12号 洗车位", "wash"))
    return bays


@dataclass(frozen=True)
class NewCar:
    """Everything reception writes on a new job order."""

    plate: str
    customer_name: str
    customer_phone: str
    model: VehicleModel
    vin: str
    mileage: int
    job: Job
    waiting: bool
    wash: bool
    priority: str


def random_phone(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"


def random_plate(rng: random.Random, electric: bool) -> str:
    """A Chinese plate: region, then five characters (new-energy: D or F and five digits)."""
    region = rng.choice(REGIONS)
    if electric:
        return f"{region}{rng.choice('DF')}{rng.randint(0, 99_999):05d}"
    characters = [str(rng.randint(0, 9)) for _ in range(5)]
    for position in rng.sample(range(5), rng.choice((0, 1, 1, 2))):
        characters[position] = rng.choice(PLATE_LETTERS)
    return region + "".join(characters)


def random_car(rng: random.Random, taken_plates: set[str]) -> NewCar:
    """A plausible customer with a plausible car and fault; the plate is new."""
    model = rng.choice(MODELS)
    plate = random_plate(rng, model.electric)
    while plate in taken_plates:
        plate = random_plate(rng, model.electric)
    taken_plates.add(plate)
    unfit = "ice" if model.electric else "ev"
    job = rng.choice([j for j in JOBS if j.fits != unfit])
    surname = rng.choice(SURNAMES)
    if rng.random() < 0.6:
        name = surname + rng.choice(TITLES)
    else:
        name = surname + "".join(rng.sample(GIVEN_NAMES, rng.choice((1, 2))))
    short_job = job.hours <= 2.0
    return NewCar(
        plate=plate,
        customer_name=name,
        customer_phone=random_phone(rng),
        model=model,
        vin=model.wmi + "".join(rng.choice(VIN_CHARACTERS) for _ in range(14)),
        mileage=rng.randint(*job.mileage) // 10 * 10,
        job=job,
        waiting=rng.random() < (0.6 if short_job else 0.1),
        wash=rng.random() < 0.55,
        priority="vip" if rng.random() < 0.12 else "normal",
    )


def open_order(
    core: Core,
    request: CommandRequest,
    car: NewCar,
    *,
    promised_at: datetime,
    booked: bool = False,
) -> Outcome:
    """Reception opens (or books) the job order for this car."""
    command = NewOrder(
        plate=car.plate,
        customer=Customer(name=car.customer_name, phone=car.customer_phone),
        vehicle=Vehicle(model=car.model.name, vin=car.vin, mileage=car.mileage),
        complaint=car.job.complaint,
        items=car.job.items,
        promised_at=promised_at,
        waiting=car.waiting,
        wash=car.wash,
        priority=car.priority,
        booked=booked,
    )
    return orders.open_order(core, request, command)


def work_tap(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    to: Stage,
    version: int,
    reason: str = "",
    pause_reason: PauseReason | None = None,
) -> Outcome:
    """Start or resume work as the first assigned technician whose clock is
    free (their own tap: their clock starts); when every one of them is
    clocked on another car, as the demo (no clock, as on a busy floor)."""
    move = partial(
        orders.transition_order, to=to, version=version, reason=reason, pause_reason=pause_reason
    )
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        technicians = [int(t) for t in row.technicians] if row is not None else []
    for user_id in technicians:
        tap = technician_request(core, request.shop_id, user_id)
        try:
            return move(core, tap, order_id)
        except ClockConflict:
            continue
    return move(core, request, order_id)


def technician_request(core: Core, shop_id: int, user_id: int) -> CommandRequest:
    """A technician's own tap (the demo acting as them: their clock starts)."""
    with core.db.read() as session:
        user = session.get(StaffUser, user_id)
        name = user.name if user is not None else f"technician {user_id}"
    actor = Actor(
        name=name, roles=frozenset({Role.TECHNICIAN}), user_id=user_id, ref=f"user:{user_id}"
    )
    return CommandRequest(actor=actor, shop_id=shop_id)


def demo_request(shop_id: int) -> CommandRequest:
    return CommandRequest(actor=DEMO_ACTOR, shop_id=shop_id)


# ---------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class _Scenario:
    """A path through the flow, as the command tokens ``_step`` understands,
    and how many seeded orders take it. ``wash`` is forced where the path
    depends on it (the last check sends a wash car to washing)."""

    final: Stage
    tokens: tuple[str, ...]
    count: int
    wash: bool | None = None


_REPAIR = ("arrive", "assign", "start")
_CHECKED = (*_REPAIR, "finish", "pass", "pass", "pass")

# The cars standing on bays when the demo opens (dispatched to quality check:
# ten) leave one of the eleven work bays free for the foreman's next dispatch.
SCENARIOS: tuple[_Scenario, ...] = (
    _Scenario(Stage.BOOKED, ("book",), 4),
    _Scenario(Stage.CANCELLED, ("book", "cancel"), 1),
    _Scenario(Stage.CHECKED_IN, ("arrive",), 5),
    _Scenario(Stage.CHECKED_IN, ("book", "check_in"), 2),
    _Scenario(Stage.CANCELLED, ("arrive", "cancel"), 1),
    _Scenario(Stage.DISPATCHED, ("arrive", "assign"), 1),
    _Scenario(Stage.IN_PROGRESS, (*_REPAIR, "quote", "approve", "resume"), 1),
    _Scenario(Stage.IN_PROGRESS, (*_REPAIR, "finish", "pass", "fail"), 1),
    _Scenario(Stage.IN_PROGRESS, (*_REPAIR, "pause_parts", "parts_arrived", "resume"), 1),
    _Scenario(Stage.PAUSED, (*_REPAIR, "pause_parts", "parts_ordered"), 1),
    _Scenario(Stage.PAUSED, (*_REPAIR, "quote"), 1),
    _Scenario(Stage.PAUSED, (*_REPAIR, "pause_other"), 1),
    _Scenario(Stage.QUALITY_CHECK, (*_REPAIR, "finish"), 1),
    _Scenario(Stage.QUALITY_CHECK, (*_REPAIR, "finish", "pass"), 1),
    _Scenario(Stage.QUALITY_CHECK, (*_REPAIR, "finish", "pass", "pass"), 1),
    _Scenario(Stage.WASHING, _CHECKED, 2, wash=True),
    _Scenario(Stage.READY, _CHECKED, 4, wash=False),
    _Scenario(Stage.READY, (*_CHECKED, "washed"), 2, wash=True),
    _Scenario(Stage.DELIVERED, (*_CHECKED, "deliver"), 5, wash=False),
    _Scenario(Stage.DELIVERED, (*_CHECKED, "washed", "deliver"), 3, wash=True),
    _Scenario(
        Stage.DELIVERED,
        (*_REPAIR, "quote", "decline", "resume", "finish", "pass", "pass", "pass", "deliver"),
        1,
        wash=False,
    ),
)

# Minutes the order has sat in its final stage when the demo opens.
_IDLE_MINUTES: dict[Stage, tuple[float, float]] = {
    Stage.BOOKED: (14 * 60, 30 * 60),
    Stage.CHECKED_IN: (3, 35),
    Stage.DISPATCHED: (2, 20),
    Stage.IN_PROGRESS: (5, 60),
    Stage.PAUSED: (5, 40),
    Stage.QUALITY_CHECK: (2, 15),
    Stage.WASHING: (2, 15),
    Stage.READY: (5, 60),
    Stage.DELIVERED: (15, 120),
    Stage.CANCELLED: (20, 180),
}
# Technicians are tied to a job until it goes to inspection; the car stands on
# its bay longer, until it has passed (the domain's holding stages).
_OCCUPYING = stages.WORKING_STAGES
_HOLDING = stages.HOLDING_STAGES
# Between one car leaving a bay and the next one arriving on it.
_APART = timedelta(minutes=1)
_WORKING = frozenset({Stage.DISPATCHED, Stage.IN_PROGRESS})


@dataclass(frozen=True)
class _Step:
    """One command of a seeded order, and the minutes that passed before it."""

    kind: str  # create | assign | move | pass | quote | decide | parts
    minutes: float
    to: Stage | None = None
    reason: str = ""
    pause_reason: PauseReason | None = None
    approved: bool = True
    extra: ExtraWork | None = None
    # A parts step: the status it moves the order's first request to, and
    # for "ordered" the minutes until the parts are expected.
    parts_status: str = ""
    expected_in: float = 0.0


@dataclass
class _Plan:
    """One seeded order: its car, its commands with their moments, and what the
    services answered so far (id, version, the open quote)."""

    car: NewCar
    final: Stage
    booked: bool
    steps: list[_Step]
    moments: list[datetime] = field(default_factory=list)
    promised_at: datetime | None = None
    bay: str = ""
    technicians: tuple[int, ...] = ()
    order_id: int = 0
    version: int = 0
    quote: tuple[int, int] = (0, 0)


def _step(token: str, car: NewCar, rng: random.Random) -> _Step:
    """The command behind a scenario token, with a realistic gap before it."""
    gap = rng.uniform
    if token in ("book", "arrive"):
        return _Step("create", 0)
    if token == "check_in":
        return _Step("move", gap(14 * 60, 30 * 60), to=Stage.CHECKED_IN)
    if token == "cancel":
        return _Step("move", gap(10, 40), to=Stage.CANCELLED, reason=rng.choice(CANCEL_REASONS))
    if token == "assign":
        return _Step("assign", gap(5, 25))
    if token == "start":
        return _Step("move", gap(3, 15), to=Stage.IN_PROGRESS)
    if token == "quote":
        return _Step("quote", gap(20, 50), extra=rng.choice(EXTRA_WORK))
    if token in ("approve", "decline"):
        return _Step("decide", gap(5, 25), approved=token == "approve")
    if token in ("pause_parts", "pause_other"):
        parts = token == "pause_parts"
        return _Step(
            "move",
            gap(15, 45),
            to=Stage.PAUSED,
            reason=rng.choice(PARTS_WAITS if parts else OTHER_PAUSES),
            pause_reason=PauseReason.PARTS if parts else PauseReason.OTHER,
        )
    if token == "parts_ordered":
        return _Step("parts", gap(5, 20), parts_status="ordered", expected_in=gap(60, 240))
    if token == "parts_arrived":
        return _Step("parts", gap(15, 40), parts_status="arrived")
    if token == "resume":
        return _Step("move", gap(2, 10), to=Stage.IN_PROGRESS)
    if token == "finish":
        return _Step("move", car.job.hours * 60 * gap(0.5, 0.9), to=Stage.QUALITY_CHECK)
    if token == "pass":
        return _Step("pass", gap(5, 15))
    if token == "fail":
        return _Step("move", gap(5, 15), to=Stage.IN_PROGRESS, reason=rng.choice(CHECK_FAILURES))
    if token == "washed":
        return _Step("move", gap(18, 30), to=Stage.READY)
    if token == "deliver":
        return _Step("move", gap(10, 60), to=Stage.DELIVERED)
    raise ValueError(f"unknown scenario token {token!r}")


def _plans(rng: random.Random, now: datetime, timezone: ZoneInfo) -> list[_Plan]:
    """Every seeded order with its commands placed in time, ending before ``now``."""
    plans: list[_Plan] = []
    plates: set[str] = set()
    for scenario in SCENARIOS:
        for _ in range(scenario.count):
            car = random_car(rng, plates)
            if scenario.wash is not None:
                car = replace(car, wash=scenario.wash)
            steps = [_step(token, car, rng) for token in scenario.tokens]
            plan = _Plan(car, scenario.final, scenario.tokens[0] == "book", steps)
            _place_in_time(plan, rng, now, timezone)
            plans.append(plan)
    return plans


def _place_in_time(plan: _Plan, rng: random.Random, now: datetime, timezone: ZoneInfo) -> None:
    """Count back from now: the idle time in the final stage, then each gap."""
    moment = now - timedelta(minutes=rng.uniform(*_IDLE_MINUTES[plan.final]))
    moments = [moment]
    for step in reversed(plan.steps[1:]):
        moment -= timedelta(minutes=step.minutes)
        moments.append(moment)
    plan.moments = list(reversed(moments))
    hours = plan.car.job.hours
    if plan.booked:
        arrival = next(
            (m for s, m in zip(plan.steps, plan.moments, strict=True) if s.to == Stage.CHECKED_IN),
            now + timedelta(hours=rng.uniform(0.5, 5)),
        )
        promised = suggest_promised_at(arrival, hours, rng.uniform(0, 6), len(TECHNICIANS))
    else:
        promised = suggest_promised_at(plan.moments[0], hours, rng.uniform(1, 12), len(TECHNICIANS))
    plan.promised_at = promised.astimezone(timezone)


def _allocate(
    plans: list[_Plan],
    rng: random.Random,
    bays: list[str],
    quick: list[str],
    technicians: list[int],
) -> None:
    """Give each order that reached dispatch a bay and technicians. Orders still
    on the floor get their own technicians; earlier jobs get technicians who
    were free at the time, so that every labour clock the services open is
    true (one job per person). Bays: see ``_allocate_bays``."""
    on_floor = sorted(
        (p for p in plans if p.final in _OCCUPYING),
        key=lambda p: (p.final not in _WORKING, p.car.job.hours),
    )
    _allocate_bays(plans, rng, bays, quick)
    crew = list(technicians)
    rng.shuffle(crew)
    booked: dict[int, list[tuple[datetime, datetime]]] = {t: [] for t in technicians}
    for index, plan in enumerate(on_floor):
        still_to_staff = len(on_floor) - index - 1
        pair = plan.final in _WORKING and plan.car.job.hours >= 3
        wanted = 2 if pair and len(crew) - 2 >= still_to_staff else 1
        plan.technicians = tuple(
            crew.pop(0) if crew else rng.choice(technicians) for _ in range(wanted)
        )
        for technician in plan.technicians:
            booked[technician].append(_busy(plan))
    for plan in sorted(plans, key=lambda p: p.moments[0]):
        if plan.final in _OCCUPYING or not any(s.kind == "assign" for s in plan.steps):
            continue
        start, end = _busy(plan)
        free = [t for t in technicians if all(end <= s or e <= start for s, e in booked[t])]
        technician = rng.choice(free) if free else min(technicians, key=lambda t: len(booked[t]))
        booked[technician].append((start, end))
        plan.technicians = (technician,)


def _allocate_bays(
    plans: list[_Plan], rng: random.Random, bays: list[str], quick: list[str]
) -> None:
    """A bay for each order that reached dispatch, free for every moment its
    car stands on it (``_on_bay``), so that no seeded dispatch is refused as a
    double booking. Cars still on the floor come first, each on a bay of its
    own (a short job on a quick bay when one is free); a car that has left
    the floor goes on any bay free while it stood there, and when none was,
    its whole day moves earlier until one was (it left the floor longer ago)."""
    taken: dict[str, list[tuple[datetime, datetime]]] = {code: [] for code in bays + quick}
    on_floor = sorted((p for p in plans if p.final in _HOLDING), key=lambda p: _on_bay(p)[0][0])
    for plan in on_floor:
        spells = _on_bay(plan)
        free = [code for code in taken if _fits(taken[code], spells)]
        short = plan.car.job.hours <= QUICK_JOB_HOURS
        choices = [code for code in free if code in quick] if short else []
        if not (choices or free):
            raise RuntimeError(
                f"the demo shop's {len(taken)} work bays cannot take the seeded cars on the floor"
            )
        plan.bay = (choices or free)[0]
        taken[plan.bay].extend(spells)
    gone = [p for p in plans if p.final not in _HOLDING and _on_bay(p)]
    for plan in sorted(gone, key=lambda p: _on_bay(p)[-1][1], reverse=True):
        spells = _on_bay(plan)
        free = [code for code in taken if _fits(taken[code], spells)]
        while not free:
            _move_earlier(plan, min(_clash(taken[code], spells) for code in taken))
            spells = _on_bay(plan)
            free = [code for code in taken if _fits(taken[code], spells)]
        plan.bay = rng.choice(free)
        taken[plan.bay].extend(spells)


def _fits(taken: list[tuple[datetime, datetime]], spells: list[tuple[datetime, datetime]]) -> bool:
    return all(_free(taken, start, end) for start, end in spells)


def _clash(
    taken: list[tuple[datetime, datetime]], spells: list[tuple[datetime, datetime]]
) -> timedelta:
    """How much earlier the spells must be to end before every spell of this
    bay they overlap begins (they may then overlap earlier ones)."""
    return (
        max(
            (end - s for start, end in spells for s, e in taken if not _free([(s, e)], start, end)),
            default=timedelta(0),
        )
        + _APART
    )


def _move_earlier(plan: _Plan, by: timedelta) -> None:
    plan.moments = [moment - by for moment in plan.moments]
    if plan.promised_at is not None:
        plan.promised_at -= by


def _free(spells: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
    # Apart by a margin: a car leaving at the very moment another arrives
    # could be recorded after it.
    return all(end <= s - _APART or e <= start - _APART for s, e in spells)


def _on_bay(plan: _Plan) -> list[tuple[datetime, datetime]]:
    """When the car stands on its bay, as the services count it: from dispatch
    (or a move back into repair) until it leaves the holding stages (the last
    inspection passed, a cancel); open-ended when it is there still."""
    spells: list[tuple[datetime, datetime]] = []
    since: datetime | None = None
    passes = 0
    for step, moment in zip(plan.steps, plan.moments, strict=True):
        holding = since is not None
        if step.kind == "assign":
            holding = True
        elif step.kind == "move" and step.to is not None:
            holding = step.to in _HOLDING
            passes = 0
        elif step.kind == "pass":
            passes += 1
            holding = holding and passes < len(CHECK_CHAIN)
        if holding and since is None:
            since = moment
        elif not holding and since is not None:
            spells.append((since, moment))
            since = None
    if since is not None:
        spells.append((since, datetime.max.replace(tzinfo=since.tzinfo)))
    return spells


def _busy(plan: _Plan) -> tuple[datetime, datetime]:
    """From dispatch until the car leaves repair for the last time (or for good,
    when it is still on the floor)."""
    timed = list(zip(plan.steps, plan.moments, strict=True))
    start = next(moment for step, moment in timed if step.kind == "assign")
    if plan.final in _OCCUPYING:
        return start, datetime.max.replace(tzinfo=start.tzinfo)
    finished = [moment for step, moment in timed if step.to == Stage.QUALITY_CHECK]
    return start, finished[-1] if finished else timed[-1][1]


# ---------------------------------------------------------------- running


class _Recorder:
    """Runs the plans' commands through the services, each on a clock set to
    its planned moment (a copy of the core, so the real clock is untouched)."""

    def __init__(self, core: Core, shop_id: int) -> None:
        self._moment = core.now()
        self.core = replace(core, clock=self._now)
        self.request = demo_request(shop_id)

    def _now(self) -> datetime:
        return self._moment

    def run(self, plans: list[_Plan]) -> None:
        timeline = sorted(
            (moment, index, position)
            for index, plan in enumerate(plans)
            for position, moment in enumerate(plan.moments)
        )
        for moment, index, position in timeline:
            self._moment = moment
            plan = plans[index]
            self._perform(plan, plan.steps[position])

    def _perform(self, plan: _Plan, step: _Step) -> None:
        core, request = self.core, self.request
        if step.kind == "create":
            assert plan.promised_at is not None
            outcome = open_order(
                core, request, plan.car, promised_at=plan.promised_at, booked=plan.booked
            )
            plan.order_id = int(outcome.body["id"])
        elif step.kind == "assign":
            outcome = orders.assign_order(
                core,
                request,
                plan.order_id,
                bay=plan.bay,
                technicians=plan.technicians,
                version=plan.version,
            )
        elif step.kind == "parts":
            eta = self._moment + timedelta(minutes=step.expected_in) if step.expected_in else None
            outcome = orders.change_parts_status(
                core, request, plan.order_id, part_id=1, status=step.parts_status, eta=eta
            )
        elif step.kind == "move":
            assert step.to is not None
            # Work starts and resumes by the technician's own tap, which is
            # what starts their clock; every other move is the demo's.
            working = step.to == Stage.IN_PROGRESS and not step.reason
            outcome = (work_tap if working else orders.transition_order)(
                core,
                request,
                plan.order_id,
                to=step.to,
                version=plan.version,
                reason=step.reason,
                pause_reason=step.pause_reason,
            )
        elif step.kind == "pass":
            outcome = orders.pass_check(core, request, plan.order_id, version=plan.version)
        elif step.kind == "quote":
            assert step.extra is not None
            outcome = orders.quote_extra_work(
                core,
                request,
                plan.order_id,
                QuoteTerms(step.extra.description, step.extra.labour_hours, step.extra.price_cents),
                version=plan.version,
            )
            plan.quote = (int(outcome.body["id"]), int(outcome.body["version"]))
        else:
            outcome = orders.decide_extra_work(
                core,
                request,
                plan.order_id,
                quote_id=plan.quote[0],
                approved=step.approved,
                quote_version=plan.quote[1],
                channel="phone",
            )
        body = outcome.body.get("order", outcome.body)
        plan.version = int(body["version"])


# ---------------------------------------------------------------- set-up


def _ensure_bays(core: Core, shop_id: int) -> None:
    with core.db.read() as session:
        existing = set(session.execute(select(Bay.code).where(Bay.shop_id == shop_id)).scalars())
    for code, name, kind in _bays():
        if code not in existing:
            setup.add_bay(core, shop_id, code, name, kind)


def _ensure_staff(core: Core, shop_id: int) -> None:
    """Technicians with badges 1001… and PIN 1234; the admin, manager,
    foreman and advisor, who sign in with a password (``OFFICE``). Skips
    whoever exists already."""
    with core.db.read() as session:
        people = session.execute(
            select(StaffUser.name, StaffUser.role).where(StaffUser.shop_id == shop_id)
        ).all()
    existing = {(name, role) for name, role in people}
    for number, (name, qualifications) in enumerate(TECHNICIANS, start=1):
        if (name, "technician") not in existing:
            setup.create_user(
                core,
                shop_id,
                role="technician",
                name=name,
                badge=str(1000 + number),
                pin=TECHNICIAN_PIN,
                qualifications=qualifications,
                phone=f"1380000{1000 + number:04d}",
            )
    for number, (role, name, password) in enumerate(OFFICE, start=1):
        if (name, role) not in existing:
            setup.create_user(
                core,
                shop_id,
                role=role,
                name=name,
                password=password,
                phone=f"1390000{2000 + number:04d}",
            )


def _work_bays(core: Core, shop_id: int) -> tuple[list[str], list[str]]:
    """(general, quick) bay codes that take repair work."""
    with core.db.read() as session:
        rows = session.execute(
            select(Bay.code, Bay.kind)
            .where(Bay.shop_id == shop_id, Bay.active, Bay.kind.in_(WORK_BAY_KINDS))
            .order_by(Bay.code)
        ).all()
    general = [code for code, kind in rows if kind == "general"]
    quick = [code for code, kind in rows if kind == "quick"]
    return general, quick


def technician_ids(session: Session, shop_id: int) -> list[int]:
    """The shop's active technicians, in the order they were hired."""
    query = (
        select(StaffUser.id)
        .where(
            StaffUser.shop_id == shop_id, StaffUser.role == Role.TECHNICIAN.value, StaffUser.active
        )
        .order_by(StaffUser.id)
    )
    return list(session.execute(query).scalars())


def _order_count(core: Core, shop_id: int) -> int:
    with core.db.read() as session:
        count = session.execute(
            select(func.count()).select_from(RepairOrder).where(RepairOrder.shop_id == shop_id)
        ).scalar_one()
    return int(count)


def _ensure_office_logins(core: Core, shop_id: int) -> None:
    """Every office login the demo prints, on a demo shop seeded before it
    printed them (whose foreman and manager had no password and which had no
    admin): the missing ones are added, and a seeded colleague who has no
    password yet gets the demo's. A password someone chose is left alone."""
    with core.db.write() as session:
        people = {
            (user.name, user.role): user
            for user in session.execute(
                select(StaffUser).where(StaffUser.shop_id == shop_id)
            ).scalars()
        }
        for role, name, password in OFFICE:
            user = people.get((name, role))
            if user is not None and user.password_hash is None:
                user.password_hash = hash_pin(password)
    for number, (role, name, password) in enumerate(OFFICE, start=1):
        if (name, role) in people:
            continue
        # A name gone to someone else in this shop: nothing to print for it.
        with contextlib.suppress(ValidationFailed):
            setup.create_user(
                core,
                shop_id,
                role=role,
                name=name,
                password=password,
                phone=f"1390000{2000 + number:04d}",
            )


def _logins(
    core: Core, shop_id: int, *, check: bool
) -> tuple[tuple[OfficeLogin, ...], tuple[KioskLogin, ...]]:
    """The demo logins as the shop has them now: the seeded office people
    who are still active, with the demo's password, and every seeded active
    technician with a badge, with the demo's PIN, by badge. ``check``: a
    demo shop from an earlier start, where someone may have changed a
    password or PIN since; those logins are checked and one that no longer
    signs in is left out, so what is printed works."""
    with core.db.read() as session:
        users = list(
            session.execute(
                select(
                    StaffUser.name,
                    StaffUser.role,
                    StaffUser.badge,
                    StaffUser.password_hash,
                    StaffUser.pin_hash,
                ).where(StaffUser.shop_id == shop_id, StaffUser.active)
            ).all()
        )
    passwords = {(name, role): password for name, role, _badge, password, _pin in users}
    office = tuple(
        OfficeLogin(role, name, password)
        for role, name, password in OFFICE
        if (name, role) in passwords
        and (not check or verify_pin(passwords[(name, role)], password))
    )
    seeded = {name for name, _qualifications in TECHNICIANS}
    technicians = sorted(
        (
            KioskLogin(name, badge, TECHNICIAN_PIN)
            for name, role, badge, _password, pin in users
            if role == Role.TECHNICIAN.value
            and badge
            and name in seeded
            and (not check or verify_pin(pin, TECHNICIAN_PIN))
        ),
        key=lambda login: (len(login.badge), login.badge),
    )
    return office, tuple(technicians)


def _ensure_contact(core: Core, shop_id: int) -> None:
    """The address and hotline a customer reads on the ticket and the phone."""
    shop_profile.update_profile(
        core,
        CommandRequest(actor=DEMO_ACTOR, shop_id=shop_id),
        shop_profile.ProfileChange(address=SHOP_ADDRESS, hotline=SHOP_HOTLINE),
        version=shop_profile.profile(core, shop_id)["version"],
    )


def seed_demo(core: Core) -> Seeded:
    """Create the demo shop with staff, bays and a day's orders, unless it has
    orders already; either way hand out a fresh admin token to show, and
    the logins to print."""
    shop_id = setup.ensure_shop(core, slug=DEMO_SLUG, name=SHOP_NAME, timezone=TIMEZONE)
    earlier = _order_count(core, shop_id) > 0
    if not earlier:
        _ensure_bays(core, shop_id)
        _ensure_staff(core, shop_id)
        _ensure_contact(core, shop_id)
        rng = random.Random(SEED)
        plans = _plans(rng, core.now(), ZoneInfo(TIMEZONE))
        general, quick = _work_bays(core, shop_id)
        with core.db.read() as session:
            technicians = technician_ids(session, shop_id)
        _allocate(plans, rng, general, quick, technicians)
        _Recorder(core, shop_id).run(plans)
    else:
        _ensure_office_logins(core, shop_id)
    token = create_api_token(core, shop_id=shop_id, role="admin", name="demo admin")
    office, kiosk = _logins(core, shop_id, check=earlier)
    return Seeded(
        shop_name=SHOP_NAME,
        shop_id=shop_id,
        admin_token=token,
        advisor_name=ADVISOR_NAME,
        advisor_password=ADVISOR_PASSWORD,
        office=office,
        technicians=kiosk,
    )
