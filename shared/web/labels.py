"""Words the screens show, through the Babel catalogues (zh_Hans, zh_Hant, en).
The zh terms are the ones 4S service departments use (已接车, 已派工, 维修中, 待料 …)."""

from __future__ import annotations

from flask_babel import gettext as _


def stage_labels() -> dict[str, str]:
    return {
        "booked": _("Booked"),
        "checked_in": _("Checked in"),
        "dispatched": _("Dispatched"),
        "in_progress": _("In progress"),
        "paused": _("Paused"),
        "quality_check": _("Quality check"),
        "washing": _("Washing"),
        "ready": _("Ready"),
        "delivered": _("Delivered"),
        "cancelled": _("Cancelled"),
    }


def pause_labels() -> dict[str, str]:
    return {
        "parts": _("Waiting for parts"),
        "approval": _("Waiting for customer approval"),
        "other": _("Other"),
    }


def screen_strings() -> dict[str, object]:
    """Everything a live screen's script needs to say."""
    return {
        "stages": stage_labels(),
        "pause": pause_labels(),
        "offline": _("Offline — reconnecting…"),
        "stale": _("Not updated since %(time)s", time="{time}"),
        "late": _("Late"),
        "none": _("No active orders"),
        "pairing_expired": _("The code expired; a new one is shown."),
    }
