"""The three catalogues (zh_Hans, zh_Hant, en) are complete, compile without
errors, keep every placeholder, use the workshop's own terms, and reach the
screens through the real app: ``?lang=`` (remembered in a cookie), then the
browser's Accept-Language, then BAYLIGHT_DEFAULT_LOCALE.

Compiled ``.mo`` files are build output (gitignored, ``make translations``);
these tests compile the ``.po`` files themselves with the same ``pybabel`` CLI
the docs give, so they never trust whatever ``.mo`` happens to lie around.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from babel.support import Translations

from shared.config import LOCALES, Settings
from shared.domain.stages import PauseReason, Stage
from shared.web.i18n import COOKIE
from shared.web.labels import pause_labels, stage_labels

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
POT = TRANSLATIONS / "messages.pot"
SOURCE_DIRS = ("shared", "kiosk", "board")
PYBABEL = [sys.executable, "-m", "babel.messages.frontend"]
# The extraction docs/I18N.md gives (keywords beyond Babel's defaults).
EXTRACT = ["extract", "-F", "babel.cfg", "-k", "lazy_gettext", "-k", "_l", "-c", "TRANSLATORS:"]
Compiled = tuple[Path, subprocess.CompletedProcess[str]]

# The glossary of docs/I18N.md (the stage names in the words 4S service
# departments use), so a drifting translation is a failing test, not a
# review note.
STAGES = {
    "zh_Hans": {
        "booked": "已预约",
        "checked_in": "已接车",
        "dispatched": "已派工",
        "in_progress": "维修中",
        "paused": "暂停",
        "quality_check": "质检中",
        "washing": "洗车中",
        "ready": "待交车",
        "delivered": "已交车",
        "cancelled": "已取消",
    },
    "zh_Hant": {
        "booked": "已預約",
        "checked_in": "已接車",
        "dispatched": "已派工",
        "in_progress": "維修中",
        "paused": "暫停",
        "quality_check": "質檢中",
        "washing": "洗車中",
        "ready": "待交車",
        "delivered": "已交車",
        "cancelled": "已取消",
    },
    "en": {
        "booked": "Booked",
        "checked_in": "Checked in",
        "dispatched": "Dispatched",
        "in_progress": "In progress",
        "paused": "Paused",
        "quality_check": "Quality check",
        "washing": "Washing",
        "ready": "Ready",
        "delivered": "Delivered",
        "cancelled": "Cancelled",
    },
}
PAUSES = {
    "zh_Hans": {"parts": "待料", "approval": "待客户确认", "other": "其他"},
    "zh_Hant": {"parts": "待料", "approval": "待客戶確認", "other": "其他"},
    "en": {
        "parts": "Waiting for parts",
        "approval": "Waiting for customer approval",
        "other": "Other",
    },
}
PAGE_TITLES = {
    "/board": {"zh_Hans": "车间看板", "zh_Hant": "車間看板", "en": "Workshop board"},
    "/lounge": {"zh_Hans": "客户休息区", "zh_Hant": "客戶休息區", "en": "Waiting lounge"},
    "/kiosk": {"zh_Hans": "维修技师终端", "zh_Hant": "維修技師終端", "en": "Technician kiosk"},
}
HTML_LANG = {"zh_Hans": "zh-Hans", "zh_Hant": "zh-Hant", "en": "en"}

# printf-style (%(name)s, %s, %d …) and brace-style ({name}) placeholders;
# "%%" is a literal percent sign, not a placeholder.
PLACEHOLDER = re.compile(r"%%|%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|\{\w*\}")


def placeholders(text: str) -> list[str]:
    return sorted(token for token in PLACEHOLDER.findall(text) if token != "%%")


def po_path(locale: str, root: Path = TRANSLATIONS) -> Path:
    return root / locale / "LC_MESSAGES" / "messages.po"


def load(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def entries(catalog: Catalog) -> dict[str, Any]:
    """Active messages by msgid (the header has an empty id)."""
    return {str(message.id): message for message in catalog if message.id}


def run_pybabel(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYBABEL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


# ---------------------------------------------------------------- compiling


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    """The repository's .po files compiled by ``pybabel compile`` into a
    temporary tree, without --use-fuzzy: a fuzzy catalogue or entry is left out
    there, so whatever the screens would miss shows up as a failure."""
    target = tmp_path_factory.mktemp("translations")
    for locale in LOCALES:
        po_path(locale, target).parent.mkdir(parents=True)
        shutil.copyfile(po_path(locale), po_path(locale, target))
    result = run_pybabel("compile", "-d", str(target), "--statistics")
    return target, result


def test_catalogues_compile_without_errors(
    compiled: Compiled,
) -> None:
    target, result = compiled
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower(), result.stderr
    for locale in LOCALES:
        assert (target / locale / "LC_MESSAGES" / "messages.mo").stat().st_size > 0


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_has_no_fuzzy_untranslated_or_invalid_entries(locale: str) -> None:
    catalog = load(po_path(locale), locale)
    assert str(catalog.locale) == locale
    assert not catalog.fuzzy, f"{locale}: the header is marked fuzzy; pybabel compile skips it"
    fuzzy = [message.id for message in catalog if message.id and message.fuzzy]
    untranslated = [message.id for message in catalog if message.id and not message.string]
    assert fuzzy == [], f"{locale}: fuzzy entries, review and drop the flag"
    assert untranslated == [], f"{locale}: untranslated entries"
    invalid = [
        (message.id, [str(error) for error in errors]) for message, errors in catalog.check()
    ]
    assert invalid == []


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalogue_translates_every_template_message(
    compiled: Compiled, locale: str
) -> None:
    """The .mo really carries each string: an entry dropped at compile time
    (fuzzy, bad format) would come back as the English msgid here."""
    target, _result = compiled
    translations = Translations.load(str(target), [locale])
    assert translations.files, f"no compiled catalogue for {locale}"
    # Looked up as the code asks: with its context where it has one (the
    # lounge words its reasons apart from the same English on the kiosk).
    for message in load(po_path(locale), locale):
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            # A counted sentence (ngettext): its form for one and for more.
            singular, plural = message.id
            assert translations.ngettext(singular, plural, 1) == message.string[0], message.id
            assert translations.ngettext(singular, plural, 2) == message.string[-1], message.id
            continue
        if message.context:
            found = translations.pgettext(message.context, str(message.id))
        else:
            found = translations.gettext(str(message.id))
        assert found == message.string, (message.context, message.id)


# ---------------------------------------------------------------- completeness


def test_template_is_up_to_date_with_the_source(tmp_path: Path) -> None:
    """Someone who adds a string must re-extract (docs/I18N.md); the committed
    template then lists exactly what the code asks to translate."""
    fresh = tmp_path / "messages.pot"
    result = run_pybabel(*EXTRACT, "-o", str(fresh), *SOURCE_DIRS)
    assert result.returncode == 0, result.stderr
    extracted, committed = set(entries(load(fresh))), set(entries(load(POT)))
    assert extracted - committed == set(), "new strings: run the extract + update commands"
    assert committed - extracted == set(), "strings gone from the code: re-extract and update"


def test_template_covers_every_screen_label() -> None:
    """A guard on the extraction itself (babel.cfg patterns): the Python
    labels and the Jinja templates both reach the template."""
    ids = set(entries(load(POT)))
    assert {"In progress", "Waiting for parts", "Not updated since %(time)s"} <= ids
    assert {"Workshop board", "Waiting lounge", "Technician kiosk", "Sign in"} <= ids


@pytest.mark.parametrize("locale", LOCALES)
def test_every_template_message_is_translated_with_its_placeholders(locale: str) -> None:
    template = entries(load(POT))
    catalogue = entries(load(po_path(locale), locale))
    assert set(catalogue) == set(template), f"{locale}: run pybabel update (docs/I18N.md)"
    for msgid, message in catalogue.items():
        # A counted sentence (ngettext) has a form per plural of the language.
        english = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        for form in forms:
            assert form, f"{locale}: {msgid!r} untranslated"
            assert placeholders(form) == placeholders(english[0]), (
                f"{locale}: {msgid!r} -> {form!r} changes the placeholders"
            )
            if locale != "en":
                assert form not in english, f"{locale}: {msgid!r} left in English"


def test_placeholder_pattern_sees_what_a_translator_could_break() -> None:
    assert placeholders("Not updated since %(time)s") == ["%(time)s"]
    assert placeholders("自 %(time)s 起未更新") == ["%(time)s"]
    assert placeholders("%d cars, 100%% sure, {name}") == ["%d", "{name}"]
    assert placeholders("自起未更新") != placeholders("Not updated since %(time)s")


# ---------------------------------------------------------------- through the app


def _install_if_stale(compiled_tree: Path) -> None:
    """The app reads <repo>/translations (``make translations`` compiles it).
    When a .mo is missing or older than its .po, put the freshly compiled one
    there; os.replace keeps a concurrently running server from reading half a
    file."""
    for locale in LOCALES:
        source = po_path(locale)
        target = source.with_suffix(".mo")
        if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
            continue
        staging = target.with_name(f".messages.{os.getpid()}.mo")
        shutil.copyfile(compiled_tree / locale / "LC_MESSAGES" / "messages.mo", staging)
        os.replace(staging, target)


@pytest.fixture
def site(app: Any, compiled: Compiled) -> Iterator[Any]:
    target, result = compiled
    assert result.returncode == 0, result.stderr
    _install_if_stale(target)
    yield app.test_client()


def page(client: Any, path: str, **kwargs: Any) -> tuple[str, dict[str, Any], str]:
    """(html lang, the #strings JSON, the <title>) of a rendered page."""
    response = client.get(path, **kwargs)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    lang = re.search(r'<html lang="([^"]*)">', html)
    strings = re.search(r'<script type="application/json" id="strings">(.*?)</script>', html, re.S)
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    assert lang and strings and title, html[:500]
    return lang.group(1), json.loads(strings.group(1)), title.group(1)


def test_every_stage_and_pause_reason_has_a_label(app: Any) -> None:
    with app.test_request_context("/"):
        assert set(stage_labels()) == {stage.value for stage in Stage}
        assert set(pause_labels()) == {reason.value for reason in PauseReason}


@pytest.mark.parametrize(
    ("request_kwargs", "locale"),
    [
        ({"query_string": {"lang": "zh_Hans"}}, "zh_Hans"),
        ({"query_string": {"lang": "zh_Hant"}}, "zh_Hant"),
        ({"query_string": {"lang": "en"}}, "en"),
        ({"headers": {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}}, "zh_Hans"),
        ({"headers": {"Accept-Language": "zh-TW,zh;q=0.9"}}, "zh_Hant"),
        ({"headers": {"Accept-Language": "zh-HK"}}, "zh_Hant"),
        ({"headers": {"Accept-Language": "en-US,en;q=0.9"}}, "en"),
        ({"headers": {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}}, "en"),
        ({"query_string": {"lang": "en"}, "headers": {"Accept-Language": "zh-TW"}}, "en"),
        ({}, "zh_Hans"),
    ],
    ids=[
        "lang-zh_Hans",
        "lang-zh_Hant",
        "lang-en",
        "accept-zh-CN",
        "accept-zh-TW",
        "accept-zh-HK",
        "accept-en-US",
        "accept-fr-then-en",
        "lang-beats-accept",
        "default",
    ],
)
def test_board_speaks_the_chosen_language(
    site: Any, request_kwargs: dict[str, Any], locale: str
) -> None:
    lang, strings, title = page(site, "/board", **request_kwargs)
    assert lang == HTML_LANG[locale]
    assert strings["stages"] == STAGES[locale]
    assert strings["pause"] == PAUSES[locale]
    assert title.startswith(PAGE_TITLES["/board"][locale])
    # The screen's script substitutes {time}; it must survive every language.
    assert "{time}" in strings["stale"]


@pytest.mark.parametrize("path", sorted(PAGE_TITLES))
@pytest.mark.parametrize("locale", LOCALES)
def test_every_screen_is_translated(site: Any, path: str, locale: str) -> None:
    lang, strings, title = page(site, path, query_string={"lang": locale})
    assert lang == HTML_LANG[locale]
    assert title.startswith(PAGE_TITLES[path][locale])
    assert strings["stages"]["ready"] == STAGES[locale]["ready"]


def test_explicit_choice_is_remembered_for_the_device(site: Any) -> None:
    page(site, "/board", query_string={"lang": "zh_Hant"})
    cookie = site.get_cookie(COOKIE)
    assert cookie is not None and cookie.value == "zh_Hant"
    # Remembered across restarts of the wall screen's browser, not per session.
    assert cookie.max_age is not None and cookie.max_age >= 300 * 86400
    assert cookie.http_only and cookie.same_site == "Lax"

    # The remembered choice beats the browser's own language on later visits.
    lang, strings, _title = page(site, "/lounge", headers={"Accept-Language": "en-US"})
    assert lang == "zh-Hant" and strings["stages"] == STAGES["zh_Hant"]

    # A new explicit choice replaces it.
    page(site, "/board", query_string={"lang": "en"})
    assert site.get_cookie(COOKIE).value == "en"
    lang, strings, _title = page(site, "/board", headers={"Accept-Language": "zh-CN"})
    assert lang == "en" and strings["stages"] == STAGES["en"]


def test_unknown_language_is_neither_served_nor_remembered(site: Any) -> None:
    lang, strings, _title = page(
        site, "/board", query_string={"lang": "xx"}, headers={"Accept-Language": "zh-TW"}
    )
    assert site.get_cookie(COOKIE) is None
    assert lang == "zh-Hant" and strings["stages"] == STAGES["zh_Hant"]


def test_default_locale_setting_applies_without_any_preference(
    settings: Settings, compiled: Compiled
) -> None:
    from shared.web.app import create_app

    _install_if_stale(compiled[0])
    app, _socketio = create_app(replace(settings, default_locale="zh_Hant"))
    try:
        lang, strings, _title = page(app.test_client(), "/board")
    finally:
        app.extensions["baylight"].db.dispose()
    assert lang == "zh-Hant" and strings["stages"] == STAGES["zh_Hant"]
