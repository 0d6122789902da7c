"""Language per device: an explicit choice (``?lang=`` remembered in a cookie)
wins, then the browser's Accept-Language, then BAYLIGHT_DEFAULT_LOCALE.
Times are shown in the shop's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Flask, Response, request
from flask_babel import Babel

from shared.config import LOCALES, ROOT, Settings
from shared.domain.stages import stage_groups

COOKIE = "baylight_lang"
# Browsers say zh-CN / zh-TW / zh-HK; Babel says zh_Hans / zh_Hant.
_BROWSER = {
    "zh_hans": "zh_Hans",
    "zh_cn": "zh_Hans",
    "zh_sg": "zh_Hans",
    "zh": "zh_Hans",
    "zh_hant": "zh_Hant",
    "zh_tw": "zh_Hant",
    "zh_hk": "zh_Hant",
    "zh_mo": "zh_Hant",
    "en": "en",
}


def _match(tag: str) -> str | None:
    key = tag.replace("-", "_").lower()
    if key in _BROWSER:
        return _BROWSER[key]
    base = key.split("_")[0]
    return _BROWSER.get(base)


def select_locale(default: str) -> str:
    for explicit in (request.args.get("lang"), request.cookies.get(COOKIE)):
        if explicit in LOCALES:
            return explicit
    for tag, _quality in request.accept_languages:
        found = _match(tag)
        if found:
            return found
    return default


def init_app(app: Flask, settings: Settings) -> None:
    def locale() -> str:
        return select_locale(settings.default_locale)

    Babel(
        app,
        locale_selector=locale,
        default_locale=settings.default_locale,
        default_translation_directories=str(ROOT / "translations"),
        default_timezone="Asia/Shanghai",
    )

    @app.after_request
    def remember_choice(response: Response) -> Response:
        # Most requests carry no query string: parsing one for every API
        # call cost more than the check.
        if not request.query_string:
            return response
        chosen = request.args.get("lang")
        if chosen in LOCALES:
            response.set_cookie(COOKIE, chosen, max_age=365 * 86400, samesite="Lax", httponly=True)
        return response

    @app.context_processor
    def language() -> dict[str, str]:
        current = locale()
        return {"lang": current, "html_lang": current.replace("_", "-")}

    # Every page's scripts sort orders by the domain's stage groups, never a copy.
    app.jinja_env.globals["stage_groups"] = stage_groups
    app.jinja_env.filters["shop_time"] = shop_time


def shop_time(moment: datetime | None, zone: str, now: datetime | None = None) -> str:
    """A stored moment as a page shows it: on the shop's clock, "HH:MM" when
    it is today there, else with its date ("2026-11-27 09:30"); "—" for none."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    here = ZoneInfo(zone)
    local = moment.astimezone(here)
    today = (now or datetime.now(UTC)).astimezone(here).date()
    return local.strftime("%H:%M" if local.date() == today else "%Y-%m-%d %H:%M")
