"""Errors the domain raises. Each carries the stable public ``code`` (docs/API.md) so
that the web layer maps it to problem+json without knowing the rule behind it.

The ``detail`` is an English sentence for people. The web layer answers in
the reader's language (``shared/web/problem_text.py``): a detail given as a
``Message`` (an English template with named parameters) is rendered from its
template and parameters; a plain sentence is matched against the same
table of templates. The domain itself never translates."""

from __future__ import annotations

from collections.abc import Mapping


class Message:
    """An English sentence with ``%(name)s`` parameters, kept apart until a
    reader's language is known: ``str()`` is the English text."""

    __slots__ = ("params", "template")

    def __init__(self, template: str, /, **params: object) -> None:
        self.template = template
        self.params: Mapping[str, object] = params

    def __str__(self) -> str:
        return self.template % self.params if self.params else self.template

    def __repr__(self) -> str:
        return f"Message({self.template!r}, {dict(self.params)!r})"


class DomainError(Exception):
    """A command the rules refuse. Nothing has changed when it is raised.

    ``detail`` is the English sentence; ``template`` and ``params`` are its
    parts when it was given as a ``Message`` (else None and empty)."""

    code = "domain_error"
    status = 409

    def __init__(self, detail: str | Message, **extra: object) -> None:
        text = str(detail)
        super().__init__(text)
        self.detail = text
        self.template: str | None = detail.template if isinstance(detail, Message) else None
        self.params: Mapping[str, object] = detail.params if isinstance(detail, Message) else {}
        self.extra = extra


class IllegalTransition(DomainError):
    code = "illegal_transition"
    status = 409


class StaleVersion(DomainError):
    code = "stale_version"
    status = 409


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class ValidationFailed(DomainError):
    """Bad input. ``field`` names the offending field, so a client can point at it."""

    code = "validation_error"
    status = 422

    def __init__(self, field: str, detail: str | Message) -> None:
        super().__init__(detail, field=field)
        self.field = field


class NotFound(DomainError):
    code = "not_found"
    status = 404


class ApprovalPending(DomainError):
    code = "approval_pending"
    status = 409


class ChecksPending(DomainError):
    code = "checks_pending"
    status = 409


class AlreadyDecided(DomainError):
    code = "already_decided"
    status = 409


class AlreadySubmitted(DomainError):
    code = "already_submitted"
    status = 409


class BayOccupied(DomainError):
    """The bay already holds as many cars as it takes; the body names them."""

    code = "bay_occupied"
    status = 409


class BayOutOfService(DomainError):
    """The bay was taken out of service (its reason is in the body)."""

    code = "bay_out_of_service"
    status = 409


class PartsPending(DomainError):
    """A resume while parts the car waits for have not arrived."""

    code = "parts_pending"
    status = 409


class QuoteExpired(DomainError):
    """A decision (or revision) after the quote's time ran out."""

    code = "quote_expired"
    status = 409


class QuoteLocked(DomainError):
    """A decided quote is what was agreed: changes need a new quote."""

    code = "quote_locked"
    status = 409
