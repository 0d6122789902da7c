"""Refusals in the reader's language (issue 15): every problem+json
``title`` and ``detail`` is said in the request's language (``?lang``, the
cookie, Accept-Language), while ``code``, ``type`` and field names stay
English.

The sweeps read what they check from the code itself, so a new error class,
code or sentence that the tables of ``shared/web/problem_text.py`` do not
cover fails here:

- every code the app can answer with (each ``DomainError`` subclass of every
  module of shared/, kiosk/ and board/, the HTTP codes of
  ``shared/web/problems.py``, the codes of docs/API.md and of every literal
  ``problem(…)`` call) gets a title, and a request in zh_Hans, zh_Hant and en
  gets it (and a detail) in that language through the app's real error
  handlers;
- every English sentence the code builds an error from (found in the source:
  the arguments of every call to an error class or to a function returning
  one) is said in Simplified Chinese, Traditional Chinese and English.

- every request field a refusal can name (read off the parsing and
  validation code: the field argument of every call that reaches
  ``ValidationFailed``, and the OpenAPI document's request bodies and
  parameters) has a label in ``problem_text.field_labels``, said in each
  language; no template names a field in its own text.

Then real refusals over HTTP: the kiosk's pause without a reason (the
issue's "pause_reason is required.", now 暂停原因 为必填项。 while the
``field`` member stays ``pause_reason``), REST v1's validation, 404, 405 and
an illegal move, and the language rules' order (``?lang`` over the cookie
over Accept-Language).
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, abort
from flask_babel import gettext

from shared.domain import errors
from shared.domain.text import check_text
from shared.services.devices import PAIRINGS_PER_ADDRESS_PER_MINUTE as PAIRINGS
from shared.web import openapi, problem_text, problems
from tests.kiosk.test_kiosk_login import login, pair_kiosk

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "kiosk", "board")
LANGUAGES = {"zh_Hans": "zh-CN", "zh_Hant": "zh-TW", "en": "en-US"}
# What a sweep puts in for each parameter of a sentence.
SAMPLE = "Q7"

# One character of each pair that only one script writes (simplified,
# traditional): a Traditional answer holds none of the first, a Simplified
# one none of the second.
PAIRS = (
    "这這 为為 单單 个個 员員 车車 务務 时時 间間 请請 数數 权權 没沒 让讓 设設 无無 过過"
    " 检檢 验驗 项項 号號 录錄 还還 经經 与與 对對 动動 开開 关關 发發 认認 证證 码碼 输輸"
    " 错錯 误誤 户戶 确確 签簽 态態 转轉 处處 应應 须須 该該 选選 择擇 图圖 传傳 连連 结結"
    " 页頁 资資 质質 记記 识識 锁鎖 报報 价價 订訂 货貨 领領 现現 满滿 辆輛 门門 级級 层層"
    " 长長 围圍 类類 频頻 网網 钟鐘 录錄 启啟 变變 护護 归歸 闭閉 册冊 复復 读讀"
)
SIMPLIFIED_ONLY = frozenset(pair[0] for pair in PAIRS.split())
TRADITIONAL_ONLY = frozenset(pair[1] for pair in PAIRS.split())
CJK = re.compile(r"[\u3400-\u9fff]")
# Three English words in a row: a sentence left untranslated.
ENGLISH_RUN = re.compile(r"\b[A-Za-z]{2,}[,.;:]? [A-Za-z]{2,}[,.;:]? [A-Za-z]{2,}\b")


# ---------------------------------------------------------------- the code


def _modules() -> Iterator[str]:
    for package in PACKAGES:
        yield package
        for found in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            yield found.name


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def error_classes() -> list[type[errors.DomainError]]:
    """Every DomainError class of the app, after importing every module."""
    for name in _modules():
        if name.endswith("__main__"):
            continue
        importlib.import_module(name)
    return sorted({errors.DomainError, *_subclasses(errors.DomainError)}, key=lambda c: c.__name__)


def _api_doc_codes() -> set[str]:
    text = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z_]+)` \| \d{3} \|", text, re.MULTILINE))


# The source trees, the sentences and the field names are read once per run,
# when a test first asks (not when a worker collects the module: every
# pytest-xdist worker imports every test file).
@functools.cache
def _source_trees() -> dict[Path, ast.Module]:
    files = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in files}


def _last_name(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        return _last_name(node.value)
    if isinstance(node, ast.BinOp):  # "X | None"
        return _last_name(node.left)
    return None


def _problem_call_codes() -> set[str]:
    """The codes of literal ``problem(status, "code", …)`` calls."""
    found = set()
    for tree in _source_trees().values():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and _last_name(node.func) == "problem"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                found.add(node.args[1].value)
    return found


def answer_codes() -> set[str]:
    """Every code a problem+json answer of the app can carry."""
    codes = {cls.code for cls in error_classes()}
    codes |= set(problems._HTTP_CODES.values()) | {"http_error"}
    return codes | _api_doc_codes() | _problem_call_codes()


@dataclass(frozen=True)
class Sentence:
    where: str
    error: str  # the class (or the function returning one) it is given to
    text: str  # the English sentence, SAMPLE for each parameter
    template: str | None  # a Message's own template


def _sample(node: ast.expr) -> str | None:
    """A string literal, or an f-string with SAMPLE for each value."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                parts.append(str(part.value))
            else:
                assert isinstance(part, ast.FormattedValue)
                parts.append(f"'{SAMPLE}'" if part.conversion == ord("r") else SAMPLE)
        return "".join(parts)
    return None


def _is_sentence(text: str) -> bool:
    """Words for people, not a field name or a reason code."""
    fixed = text.replace(SAMPLE, "")
    return " " in text.strip() and len(re.findall(r"[A-Za-z]", fixed)) >= 3


@functools.cache
def sentences() -> list[Sentence]:
    """Every English sentence the source gives an error class (or a function
    returning one, or ``problem``) to say: literals, f-strings, a name
    assigned one in the same function, a ``Message``'s template, and a
    function's default sentence. Text already passed through ``_()`` is
    the catalogue's and not listed."""
    classes = {"DomainError"}
    grew = True
    while grew:
        grew = False
        for tree in _source_trees().values():
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in classes
                    and any(_last_name(base) in classes for base in node.bases)
                ):
                    classes.add(node.name)
                    grew = True
    makers = {"problem"}
    for tree in _source_trees().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and _last_name(node.returns) in classes:
                makers.add(node.name)
    found: list[Sentence] = []
    for path, tree in _source_trees().items():
        where = str(path.relative_to(ROOT))
        for scope in ast.walk(tree):
            if not isinstance(scope, ast.FunctionDef | ast.Module | ast.ClassDef):
                continue
            if isinstance(scope, ast.FunctionDef) and scope.name in makers:
                for default in scope.args.defaults:
                    text = _sample(default)
                    if text is not None and _is_sentence(text):
                        found.append(Sentence(f"{where}:{scope.lineno}", scope.name, text, None))
            assigned: dict[str, list[str]] = {}
            for node in ast.walk(scope):
                if (
                    isinstance(node, ast.Assign)
                    and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                ):
                    text = _sample(node.value)
                    if text is not None:
                        assigned.setdefault(node.targets[0].id, []).append(text)
            for node in ast.walk(scope):
                if not isinstance(node, ast.Call):
                    continue
                name = _last_name(node.func)
                init_of_error = (
                    name == "__init__"
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Call)
                    and _last_name(node.func.value.func) == "super"
                    and isinstance(scope, ast.ClassDef | ast.Module)
                )
                if name not in classes and name not in makers and not init_of_error:
                    continue
                given = [*node.args, *(k.value for k in node.keywords)]
                if name == "problem":  # (status, code, title, detail): the title is by code
                    given = node.args[3:] + [k.value for k in node.keywords if k.arg == "detail"]
                for arg in given:
                    line = f"{where}:{node.lineno}"
                    if isinstance(arg, ast.Call) and _last_name(arg.func) == "Message":
                        template = arg.args[0]
                        # A variable: a helper's (its callers' templates are listed).
                        if isinstance(template, ast.Constant):
                            found.append(Sentence(line, str(name), "", str(template.value)))
                        continue
                    texts = assigned.get(arg.id, []) if isinstance(arg, ast.Name) else []
                    text = _sample(arg)
                    for one in [*texts, *([text] if text is not None else [])]:
                        if "%(" in one:  # a template handed to a helper
                            found.append(Sentence(line, str(name), "", one))
                        elif _is_sentence(one):
                            found.append(Sentence(line, str(name), one, None))
    return found


# ---------------------------------------------------------------- field names


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


Namers = dict[str, set[tuple[int, str]]]


def _field_arguments(call: ast.Call, namers: Namers) -> list[ast.expr]:
    """The expressions a call gives as a field's name."""
    name = _last_name(call.func)
    if name == "Message":
        return [k.value for k in call.keywords if k.arg == "field"]
    found: list[ast.expr] = []
    for index, parameter in namers.get(str(name), ()):
        if index < len(call.args):
            found.append(call.args[index])
        found += [k.value for k in call.keywords if k.arg == parameter]
    return found


def field_namers() -> Namers:
    """Every function that names a field in a refusal, with the parameter
    that holds the name: ``ValidationFailed(field, …)``, and every function
    passing one of its parameters on as such a name (``Body.string(key)``,
    ``check_text(field, …)``, ``_refused(field, …)``…), to a fixed point."""
    namers: Namers = {"ValidationFailed": {(0, "field")}, "_name": {(0, "key")}}
    functions = [
        n
        for tree in _source_trees().values()
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef)
    ]
    grew = True
    while grew:
        grew = False
        for function in functions:
            arguments = function.args.posonlyargs + function.args.args
            parameters = [a.arg for a in arguments if a.arg not in ("self", "cls")]
            calls = [c for c in ast.walk(function) if isinstance(c, ast.Call)]
            for index, parameter in enumerate(parameters):
                if (index, parameter) in namers.get(function.name, set()):
                    continue
                if any(_mentions(a, parameter) for c in calls for a in _field_arguments(c, namers)):
                    namers.setdefault(function.name, set()).add((index, parameter))
                    grew = True
    return namers


# A field's name or path as the code writes it; NUL for a value put in
# (f"{prefix}breaks[{index}]").
FIELD_PATH = re.compile(
    r"(?:\0|[a-z][A-Za-z0-9_]*)(?:\[(?:\0|\d+)\])*"
    r"(?:\.?(?:\0|[a-z][A-Za-z0-9_]*)(?:\[(?:\0|\d+)\])*)*"
)


def _path_sample(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(p.value) if isinstance(p, ast.Constant) else "\0" for p in node.values)
    return None


def source_field_names() -> dict[str, str]:
    """Each field name the code can put in a refusal, with where: literals,
    f-strings, names assigned one or looped over a tuple of them in the same
    function. The OpenAPI module documents fields (``openapi_field_names``)."""
    namers = field_namers()
    found: dict[str, str] = {}
    for path, tree in _source_trees().items():
        if path.name == "openapi.py":
            continue
        for scope in ast.walk(tree):
            if not isinstance(scope, ast.FunctionDef | ast.Module):
                continue
            given: dict[str, list[str]] = {}
            for node in ast.walk(scope):
                if (
                    isinstance(node, ast.Assign)
                    and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                ):
                    text = _path_sample(node.value)
                    if text is not None:
                        given.setdefault(node.targets[0].id, []).append(text)
                if (
                    isinstance(node, ast.For)
                    and isinstance(node.target, ast.Name)
                    and isinstance(node.iter, ast.Tuple | ast.List)
                ):
                    for element in node.iter.elts:
                        text = _path_sample(element)
                        if text is not None:
                            given.setdefault(node.target.id, []).append(text)
            for node in ast.walk(scope):
                if not isinstance(node, ast.Call):
                    continue
                for argument in _field_arguments(node, namers):
                    texts = given.get(argument.id, []) if isinstance(argument, ast.Name) else []
                    text = _path_sample(argument)
                    for one in [*texts, *([text] if text is not None else [])]:
                        if FIELD_PATH.fullmatch(one):
                            for name in re.findall(r"[a-z][A-Za-z0-9_]*", one.replace("\0", " ")):
                                found.setdefault(name, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def openapi_field_names() -> dict[str, str]:
    """Every member of every request body of the OpenAPI document (nested
    too) and every query and path parameter (headers are HTTP's own names)."""
    document = openapi.document()
    components = document["components"]
    found: dict[str, str] = {}

    def walk(schema: Any, where: str, seen: frozenset[str]) -> None:
        if not isinstance(schema, dict):
            return
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(components["schemas"].get(name), where, seen | {name})
            return
        for member, value in (schema.get("properties") or {}).items():
            found.setdefault(member, where)
            walk(value, where, seen)
        for key in ("items", "additionalProperties"):
            walk(schema.get(key), where, seen)
        for key in ("anyOf", "oneOf", "allOf"):
            for one in schema.get(key, []):
                walk(one, where, seen)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if "$ref" in parameter:
                    parameter = components["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
                if parameter["in"] != "header":
                    found.setdefault(parameter["name"], f"{method} {path}")
            body = operation.get("requestBody") or {}
            for content in body.get("content", {}).values():
                walk(content.get("schema"), f"{method} {path}", frozenset())
    return found


@functools.cache
def field_names() -> dict[str, str]:
    return {**openapi_field_names(), **source_field_names()}


# Words in a template that are no request field: a member of an answer
# the client sends back as it is.
NOT_FIELDS = frozenset({"next_before"})


def unlabelled(names: Any) -> list[str]:
    """The names ``problem_text`` has no label for (inside a request)."""
    return sorted(name for name in names if problem_text.field_label(name) is None)


# ---------------------------------------------------------------- checks


def said_in(locale: str, text: str, english: str = "") -> list[str]:
    """What is wrong with ``text`` as an answer in ``locale`` (none: fine).
    ``english`` is the source, whose own non-ASCII words (终检) may stay."""
    wrong = []
    bare = text.replace(SAMPLE, "")
    if locale == "en":
        if CJK.search(bare) and not CJK.search(english):
            wrong.append("Chinese in the English answer")
        return wrong
    if not CJK.search(bare):
        wrong.append("no Chinese")
    if ENGLISH_RUN.search(bare):
        wrong.append(f"an English phrase: {ENGLISH_RUN.search(bare).group()!r}")  # type: ignore[union-attr]
    other = SIMPLIFIED_ONLY if locale == "zh_Hant" else TRADITIONAL_ONLY
    mixed = sorted(set(bare) & other)
    if mixed:
        wrong.append(f"characters of the other script: {''.join(mixed)}")
    return wrong


def _instance(cls: type[errors.DomainError], detail: str) -> errors.DomainError:
    """An instance of ``cls`` built as its own constructor wants."""
    by_name: dict[str, Any] = {
        "detail": detail,
        "field": "pause_reason",
        "reason": "expired",
        "interval": 30,
        "retry_after": 30,
        "status": 409,
        "code": "stale_version",
        "extra": {},
    }
    args = []
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        if parameter.default is not parameter.empty:
            continue
        assert parameter.name in by_name, f"teach the sweep to build {cls.__name__}"
        args.append(by_name[parameter.name])
    return cls(*args)


@pytest.fixture
def raising_app(app: Flask) -> Flask:
    """The real app with one more JSON endpoint, which raises what the test
    puts in ``app.config["RAISE"]``: the answer comes from the app's own
    error handlers, as for any other view."""

    def raise_it() -> None:
        raise app.config["RAISE"]

    app.add_url_rule("/api/v1/_test/raise", "raise_for_test", raise_it)
    return app


def _sample_detail(cls: type[errors.DomainError]) -> str:
    """One sentence the code gives this class, else any of the table's."""
    for sentence in sentences():
        if sentence.error == cls.__name__ and sentence.text:
            return sentence.text
    return "Sign in first."


# ---------------------------------------------------------------- sweeps


def test_every_answer_code_has_a_title_in_the_table() -> None:
    codes = answer_codes()
    # The sweep sees the codes it should: the domain's, the login's and HTTP's.
    assert {"validation_error", "wrong_pin", "slow_down", "method_not_allowed"} <= codes
    missing = sorted(codes - set(problem_text.TITLES))
    assert missing == [], f"add a title to shared/web/problem_text.py TITLES for {missing}"


@pytest.mark.parametrize("locale", list(LANGUAGES))
def test_every_code_answers_in_the_request_language(raising_app: Flask, locale: str) -> None:
    """Each error class (and each HTTP refusal) raised inside a request in
    each language: the answer's title and detail are in that language, its
    code and type are not translated."""
    client = raising_app.test_client()
    raised: list[tuple[str, Exception]] = []
    for cls in error_classes():
        error = _instance(cls, _sample_detail(cls))
        raised.append((error.code, error))
    for status in (400, 401, 403, 404, 405, 413, 415, 429, 500):
        try:
            abort(status)
        except Exception as http_error:  # werkzeug's HTTPException of that status
            raised.append((problems._HTTP_CODES.get(status, "http_error"), http_error))
    codes = set()
    for code, error in raised:
        raising_app.config["RAISE"] = error
        answer = client.get("/api/v1/_test/raise", headers={"Accept-Language": LANGUAGES[locale]})
        body = answer.get_json()
        assert answer.mimetype == problems.PROBLEM_TYPE, (code, body)
        assert body["code"] == code and body["type"] == "about:blank", body
        english = str(getattr(error, "detail", ""))
        for part in ("title", "detail"):
            wrong = said_in(locale, body[part], english)
            assert wrong == [], (type(error).__name__, part, body[part], wrong)
        codes.add(code)
    # Every class's code and every HTTP code was answered.
    assert {cls.code for cls in error_classes()} <= codes


def test_the_sweep_finds_the_sentences_of_every_layer() -> None:
    """The source scan is not vacuous: it sees the domain's, the services'
    and the web layer's sentences, and the kiosk's."""
    texts = {s.text or s.template for s in sentences()}
    assert "A pause needs a reason." in texts  # shared/domain/order.py
    assert "Wrong badge or PIN." in texts  # shared/services/kiosk_login.py
    assert "%(field)s is required." in texts  # shared/web/parsing.py, a Message
    assert "pause_reason is parts, approval or other." in texts  # kiosk/views.py
    assert f"Bay {SAMPLE} is taken by #{SAMPLE} {SAMPLE}." in texts  # a name assigned before
    assert "The signature is not a readable PNG image." in texts  # a default argument
    assert len(sentences()) > 200


def test_every_template_given_to_an_error_is_in_the_table() -> None:
    unknown = sorted(
        {(s.where, s.template) for s in sentences() if s.template is not None}
        - {
            (s.where, s.template)
            for s in sentences()
            if s.template and problem_text.known_template(s.template)
        }
    )
    assert unknown == [], "add these templates to shared/web/problem_text.py DETAILS"


@pytest.mark.parametrize("locale", list(LANGUAGES))
def test_every_sentence_of_the_code_is_said_in_the_reader_language(app: Flask, locale: str) -> None:
    unmatched = sorted(
        {(s.where, s.text) for s in sentences() if s.text and not problem_text.match(s.text)}
    )
    assert unmatched == [], "add these sentences to shared/web/problem_text.py DETAILS"
    wrong = []
    with app.test_request_context(headers={"Accept-Language": LANGUAGES[locale]}):
        for sentence in sentences():
            if sentence.template is not None:
                names = re.findall(r"%\((\w+)\)s", sentence.template)
                error = errors.DomainError(
                    errors.Message(sentence.template, **dict.fromkeys(names, SAMPLE))
                )
            else:
                error = errors.DomainError(sentence.text)
            english = error.detail
            _title, detail = problem_text.error_text(error)
            problems_found = said_in(locale, detail, english)
            found = problem_text.match(english)
            template = sentence.template or found[0]  # type: ignore[index]
            params = dict(error.params) if sentence.template else found[1]  # type: ignore[index]
            # English says the sentence as written, its fields by their
            # labels, unless its catalogue entry words it otherwise on
            # purpose ("%(level)s has not passed yet.").
            as_written = _with_labels(template, params) if params else english
            if locale == "en" and detail != as_written and gettext(template) == template:
                problems_found.append("the English answer is not the English sentence")
            if problems_found:
                wrong.append((sentence.where, english, detail, problems_found))
    assert wrong == []


def _with_labels(template: str, params: dict[str, Any]) -> str:
    """The English sentence with each field it names said by its label
    (capitalised when the sentence begins with it)."""
    labels = {}
    for name in ("field", "setting", "first", "second"):
        value = params.get(name)
        if isinstance(value, str):
            label = problem_text.field_label(value.strip("'"))
            if label is not None and template != "%(field)s is not a field of this request.":
                labels[name] = label
    text = template % {**params, **labels}
    if any(text.startswith(label) for label in labels.values()):
        text = text[0].upper() + text[1:]
    return text


def test_every_field_a_refusal_can_name_has_a_label(app: Flask) -> None:
    """The field names of the parsing and validation code and of the
    OpenAPI document each have a label: a new field without one fails here."""
    # The sweep sees what it should: the kiosk's, nested, looped, the API's.
    assert {"pause_reason", "technician_id", "title", "labour_minutes", "stage_labels"} <= set(
        field_names()
    )
    assert "zh_Hant" in field_names() and "order_id" in field_names()
    assert "Idempotency-Key" not in field_names()  # a header: HTTP's own name
    assert len(field_names()) > 100
    with app.test_request_context(headers={"Accept-Language": "en"}):
        # A name without a label is what the sweep reports.
        assert unlabelled(["pause_reason", "a_field_nobody_labelled"]) == [
            "a_field_nobody_labelled"
        ]
        missing = [(name, field_names()[name]) for name in unlabelled(field_names())]
    assert missing == [], "add a label to shared/web/problem_text.py field_labels()"


@pytest.mark.parametrize("locale", list(LANGUAGES))
def test_every_field_label_is_said_in_the_reader_language(app: Flask, locale: str) -> None:
    wrong = []
    with app.test_request_context(headers={"Accept-Language": LANGUAGES[locale]}):
        labels = problem_text.field_labels()
        for name in sorted({*field_names(), *labels}):
            label = str(problem_text.field_label(name))
            if said_in(locale, label) or (locale != "en" and name in label):
                wrong.append((name, label, said_in(locale, label)))
    assert wrong == []


def test_no_template_names_a_field_in_its_own_text() -> None:
    """A field goes into a template as ``%(field)s`` (said by its label),
    never as a word of the sentence ("pause_reason is …")."""
    wrong = []
    for template in problem_text.DETAILS:
        text = re.sub(r"%\(\w+\)s", " ", template)
        words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)
        first = template.split(" ", 1)[0]
        if first in field_names() or any("_" in word and word not in NOT_FIELDS for word in words):
            wrong.append(template)
    assert wrong == []


@pytest.mark.parametrize(
    ("locale", "said"),
    [
        ("zh_Hans", "维修项目 第 1 项 · 项目名称 为必填项。"),
        ("zh_Hant", "維修項目 第 1 項 · 項目名稱 為必填項目。"),
        ("en", "Work items #1 · title is required."),
    ],
)
def test_a_nested_field_is_named_by_its_labels_and_its_place(
    client: Any, shop: Any, locale: str, said: str
) -> None:
    answer = client.post(
        "/api/v1/orders",
        json={"plate": "粤B15003", "items": [{"labour_hours": 1}]},
        headers={**shop.headers("advisor"), "Accept-Language": LANGUAGES[locale]},
    )
    body = answer.get_json()
    assert answer.status_code == 422, body
    assert (body["code"], body["field"], body["detail"]) == (
        "validation_error",
        "items[0].title",
        said,
    )


@pytest.mark.parametrize("locale", list(LANGUAGES))
def test_the_text_rule_refusals_are_said_in_the_reader_language(app: Flask, locale: str) -> None:
    """``check_text`` names the kind of character it refuses (shared/domain/text.py)."""
    samples = ["a\x07b", "a\u202eb", "a\u2028b", "a\ufdd0b"]
    with app.test_request_context(headers={"Accept-Language": LANGUAGES[locale]}):
        for value in samples:
            with pytest.raises(errors.ValidationFailed) as refused:
                check_text("note", value)
            detail = problem_text.error_text(refused.value)[1]
            assert problem_text.match(refused.value.detail) is not None, refused.value.detail
            assert said_in(locale, detail) == [], (value, detail)
            label = str(problem_text.field_label("note"))
            assert label.lower() in detail.lower() and "U+" in detail


# ---------------------------------------------------------------- over HTTP


# The field by its label; the answer's ``field`` member stays pause_reason.
PAUSE_REQUIRED = {
    "zh_Hans": "暂停原因 为必填项。",
    "zh_Hant": "暫停原因 為必填項目。",
    "en": "Pause reason is required.",
}
TITLE = {"zh_Hans": "输入有误", "zh_Hant": "輸入有誤", "en": "Validation error"}


def _kiosk_session(client: Any, core: Any, shop: Any) -> str:
    reply = login(client, pair_kiosk(core, shop.shop_id), "1001", "1234")
    assert reply.status_code == 200, reply.get_json()
    return str(reply.get_json()["token"])


def _dispatched_and_started(client: Any, shop: Any) -> dict[str, Any]:
    created = client.post(
        "/api/v1/orders",
        json={"plate": "粤B15001", "items": [{"title": "更换机油", "labour_hours": 1}]},
        headers=shop.headers("advisor"),
    ).get_json()
    order = client.put(
        f"/api/v1/orders/{created['id']}/assignment",
        json={"bay": "B01", "technicians": [shop.technicians[0]], "version": created["version"]},
        headers=shop.headers("foreman"),
    ).get_json()
    started = client.post(
        f"/api/v1/orders/{order['id']}/transitions",
        json={"to": "in_progress", "version": order["version"]},
        headers=shop.headers("technician"),
    )
    assert started.status_code == 200, started.get_json()
    return dict(started.get_json())


@pytest.mark.parametrize("locale", list(LANGUAGES))
def test_the_kiosk_pause_without_a_reason_is_refused_in_the_kiosk_language(
    client: Any, core: Any, shop: Any, locale: str
) -> None:
    """The issue's case: a pause the kiosk sends without its reason."""
    token = _kiosk_session(client, core, shop)
    order = _dispatched_and_started(client, shop)
    answer = client.post(
        f"/kiosk/api/orders/{order['id']}/pause",
        json={"version": order["version"]},
        headers={"Authorization": f"Bearer {token}", "Accept-Language": LANGUAGES[locale]},
    )
    body = answer.get_json()
    assert answer.status_code == 422 and answer.mimetype == problems.PROBLEM_TYPE
    assert (body["code"], body["field"]) == ("validation_error", "pause_reason")
    assert (body["title"], body["detail"]) == (TITLE[locale], PAUSE_REQUIRED[locale])


def test_rest_v1_refusals_follow_lang_then_cookie_then_accept_language(
    client: Any, shop: Any
) -> None:
    headers = {**shop.headers("advisor"), "Accept-Language": "en-US,en;q=0.9"}
    said = client.post("/api/v1/orders", json={"plate": "不是车牌"}, headers=headers).get_json()
    assert said["code"] == "validation_error" and said["field"] == "plate"
    assert said["detail"].startswith("Not a plate") and said["title"] == "Validation error"
    # ?lang wins over Accept-Language, and is remembered in the cookie.
    said = client.post(
        "/api/v1/orders?lang=zh_Hant", json={"plate": "不是车牌"}, headers=headers
    ).get_json()
    assert said["title"] == "輸入有誤" and said["detail"].startswith("不是有效的車牌")
    said = client.get("/api/v1/orders/999999", headers=headers).get_json()
    assert said["code"] == "not_found" and said["title"] == "找不到"
    client.delete_cookie("baylight_lang")
    said = client.get("/api/v1/orders/999999", headers=headers).get_json()
    assert said["title"] == "Not found" and said["detail"] == "No order 999999."


@pytest.mark.parametrize(
    ("locale", "moved", "unknown", "method"),
    [
        ("zh_Hans", "工单不能从“已接车”转到“待交车”。", "此地址没有内容。", "不允许的请求方法"),
        ("zh_Hant", "工單不能從「已接車」轉到「待交車」。", "此網址沒有內容。", "不允許的請求方法"),
        (
            "en",
            "An order cannot go from Checked in to Ready.",
            "There is nothing at this address.",
            "Method not allowed",
        ),
    ],
)
def test_domain_and_http_refusals_over_rest_v1(
    client: Any, shop: Any, locale: str, moved: str, unknown: str, method: str
) -> None:
    """An illegal move names its stages in the shop's words; werkzeug's 404
    and 405 get a short detail instead of their stock English text."""
    language = {"Accept-Language": LANGUAGES[locale]}
    order = client.post(
        "/api/v1/orders", json={"plate": "粤B15002"}, headers=shop.headers("advisor")
    ).get_json()
    answer = client.post(
        f"/api/v1/orders/{order['id']}/transitions",
        json={"to": "ready", "version": order["version"]},
        headers={**shop.headers("foreman"), **language},
    )
    body = answer.get_json()
    assert answer.status_code == 409 and body["code"] == "illegal_transition", body
    assert body["detail"] == moved and "allowed" in body
    answer = client.get("/api/v1/no-such-thing", headers={**shop.headers(), **language})
    assert answer.status_code == 404 and answer.get_json()["detail"] == unknown
    answer = client.delete("/api/v1/orders", headers={**shop.headers(), **language})
    assert answer.status_code == 405 and answer.get_json()["title"] == method
    assert answer.headers["Allow"]


def test_a_rate_limit_is_said_as_a_sentence_in_the_reader_language(client: Any) -> None:
    """Flask-Limiter's refusal carries its limit ("20 per 1 minute"): said
    as a sentence, Retry-After kept."""
    answers = [
        client.post(
            "/api/v1/devices/pairing", json={"kind": "board"}, headers={"Accept-Language": "zh-TW"}
        )
        for _ in range(PAIRINGS + 1)
    ]
    assert [a.status_code for a in answers[:-1]] == [201] * PAIRINGS
    refused = answers[-1]
    body = refused.get_json()
    assert refused.status_code == 429 and body["code"] == "rate_limited"
    assert body["title"] == "請求過於頻繁"
    assert body["detail"] == f"每分鐘最多 {PAIRINGS} 次請求，請稍候再試。"
    assert int(refused.headers["Retry-After"]) > 0


def test_a_sentence_holding_a_long_input_is_matched_in_linear_time(app: Flask) -> None:
    """A sentence may hold what a client sent (an unknown stage, a time
    zone, a badge in the path): matching it against the table never
    backtracks, however long and however many of the table's fixed texts
    it repeats (a regular expression took 30 s on 60 KB here)."""
    junk = "x: y is not a real date. Bay 1 is full: it takes " * 1200  # 60 KB
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        started = time.perf_counter()
        said = problem_text.detail_text(f"Unknown stage {junk!r}.")
        for text in (junk, ": " * 30_000, junk + "."):
            assert problem_text.detail_text(text) == text
        elapsed = time.perf_counter() - started
    assert said == f"未知的状态 {junk!r}。"
    assert elapsed < 0.5, elapsed
