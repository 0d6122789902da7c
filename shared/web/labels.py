"""Words the screens show, through the Babel catalogues (zh_Hans, zh_Hant, en).
The zh terms are the ones 4S service departments use (已接车, 已派工, 维修中, 待料 …).

A shop may name the stages in its own words (``Shop.settings["stage_labels"]``,
set on /admin/shop or PATCH /api/v1/shop): ``stage_labels()`` lays them over
the catalogue's for the page's language. A page rendered for a signed-in
person (desk, foreman, admin) knows its shop and renders the shop's words;
a screen that pairs in the browser (board, lounge, kiosk) learns them from
its snapshot and the ``shop`` message, over the catalogue's words rendered
here as ``stage_defaults`` (``docs/admin/shop.md``). Codes never change."""

from __future__ import annotations

from collections.abc import Mapping

from flask import g, has_request_context
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _

from shared.config import LOCALES
from shared.domain.errors import DomainError

# What a shop's words are per locale: {"zh_Hans": {"ready": "可取车"}, ...}.
Overrides = Mapping[str, Mapping[str, str]]


def default_stage_labels() -> dict[str, str]:
    """The catalogue's words for the stages, in the current language."""
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


def default_stage_labels_by_locale() -> dict[str, dict[str, str]]:
    """The catalogue's words in each of the three languages (the admin page
    shows them beside the shop's own; GET /api/v1/shop gives them)."""
    found = {}
    for locale in LOCALES:
        with force_locale(locale):
            found[locale] = default_stage_labels()
    return found


def current_locale() -> str:
    """The locale the page is rendered in (zh_Hans, zh_Hant or en)."""
    locale = get_locale() if has_request_context() else None
    name = str(locale) if locale is not None else LOCALES[0]
    return name if name in LOCALES else LOCALES[0]


def _request_overrides() -> Overrides:
    """The stage words of the shop of whoever asks for this page (a signed-in
    person or a bearer token); none for a screen not yet known (a board or
    lounge page before its socket connects). Read once per request."""
    if not has_request_context():
        return {}
    if "baylight_stage_labels" in g:
        found: Overrides = g.baylight_stage_labels
        return found
    from shared.services import shop_profile
    from shared.web.access import core, current_principal

    try:
        principal = current_principal()
        found = (
            shop_profile.stage_label_overrides(core(), principal.shop_id)
            if principal is not None
            else {}
        )
    except DomainError:
        # A bad credential is the view's to refuse; the words stay the catalogue's.
        found = {}
    g.baylight_stage_labels = found
    return found


def stage_labels(overrides: Overrides | None = None) -> dict[str, str]:
    """The words for the stages in the current language: the shop's own
    (``overrides``, or those of the shop of whoever asks) over the
    catalogue's."""
    labels = default_stage_labels()
    mine = (_request_overrides() if overrides is None else overrides).get(current_locale(), {})
    labels.update({stage: word for stage, word in mine.items() if stage in labels and word})
    return labels


def check_level_labels() -> dict[str, str]:
    """The inspections after the technician's self-check (CheckLevel), in the
    shop's words: 班组长检验 → 质检 → 总检."""
    return {
        "team_lead": _("Team lead check"),
        "qc": _("QC inspection"),
        "final": _("Final inspection"),
    }


def pause_labels() -> dict[str, str]:
    return {
        "parts": _("Waiting for parts"),
        "approval": _("Waiting for customer approval"),
        "other": _("Other"),
    }


def screen_strings(overrides: Overrides | None = None) -> dict[str, object]:
    """Everything a live screen's script needs to say. ``stage_defaults``
    and ``locale`` let the script lay a shop's new words over the
    catalogue's when the ``shop`` message brings them (live.js)."""
    return {
        "stages": stage_labels(overrides),
        "stage_defaults": default_stage_labels(),
        "locale": current_locale(),
        "pause": pause_labels(),
        "offline": _("Offline — reconnecting…"),
        "stale": _("Not updated since %(time)s", time="{time}"),
        # TRANSLATORS: banner of a screen whose connection to the server
        # broke at {time} (hh:mm): what it shows may be out of date.
        "connection_lost": _("No connection since %(time)s — reconnecting…", time="{time}"),
        "late": _("Late"),
        "none": _("No active orders"),
        "pairing_expired": _("The code expired; a new one is shown."),
        # TRANSLATORS: a bay out of service (board, foreman), and why: an
        # admin's words, e.g. 举升机维修.
        "out_of_service": _("Out of service: %(reason)s", reason="{reason}"),
        # TRANSLATORS: a bay to choose from (foreman) that is out of service.
        "bay_out": _("%(code)s (out of service)", code="{code}"),
    }
