"""The short list of work a customer or an advisor books an appointment for,
with its standard labour hours and the kind of bay it needs.

One list for the desk (a phone booking) and the public booking page, so a
slot offered online and one offered at the desk are judged by the same hours.
Each entry is recorded on the appointment as ``{title, labour_hours,
bay_kind}``; ``title`` is the 4S department's own word (the shop's records
are kept in Simplified Chinese, as the desk's work items are), and ``label``
is the English catalogue text the screens translate for the reader. Pure:
no I/O, no Flask (``N_`` only marks the labels for extraction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def N_(text: str) -> str:
    """Marks ``text`` for the catalogue; the screens translate it when shown."""
    return text


@dataclass(frozen=True)
class WorkType:
    code: str
    title: str
    label: str
    labour_hours: float
    bay_kind: str

    def item(self) -> dict[str, Any]:
        """The appointment's work item for this entry."""
        return {"title": self.title, "labour_hours": self.labour_hours, "bay_kind": self.bay_kind}


CATALOGUE: tuple[WorkType, ...] = (
    WorkType("service", "常规保养", N_("Regular service"), 1.0, "general"),
    WorkType("brake_pads", "更换刹车片", N_("Brake pad replacement"), 1.5, "general"),
    WorkType("alignment", "四轮定位", N_("Wheel alignment"), 1.0, "alignment"),
    WorkType("aircon", "空调检修", N_("Air conditioning check and repair"), 2.0, "general"),
    WorkType("body_paint", "钣金喷漆", N_("Body and paint work"), 8.0, "paint"),
    WorkType("ev_check", "新能源检测", N_("Electric vehicle check"), 1.5, "ev"),
)

BY_CODE: dict[str, WorkType] = {work.code: work for work in CATALOGUE}


def items_for(codes: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """The work items of the chosen entries, in the catalogue's order, each
    once; an unknown code raises KeyError (the caller names the field)."""
    chosen = set(codes)
    for code in chosen:
        BY_CODE[code]
    return [work.item() for work in CATALOGUE if work.code in chosen]


def minutes_by_kind(items: list[dict[str, Any]]) -> dict[str, float]:
    """The labour minutes per bay kind of a list of work items."""
    found: dict[str, float] = {}
    for item in items:
        kind = str(item["bay_kind"])
        found[kind] = found.get(kind, 0.0) + float(item["labour_hours"]) * 60
    return found
