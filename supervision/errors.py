"""Domain exceptions. They carry no HTTP codes: api/errors.py maps them once, at the edge."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None,
                 rule: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.rule = rule
        self.extra = extra or {}


class NotFound(DomainError):
    """Unknown id, or an object outside the caller's scope (existence is never revealed)."""

    def __init__(self, what: str = "object") -> None:
        super().__init__(f"{what} not found")


class Unauthenticated(DomainError):
    """Missing or bad credentials or signature."""


class Forbidden(DomainError):
    """Authenticated, but the role may not do this at all."""


class Conflict(DomainError):
    """Duplicate natural key, a state change not allowed now, an idempotency key reused."""


class Invalid(DomainError):
    """Input that is well-formed JSON but not acceptable (a 422)."""

    @classmethod
    def field(cls, name: str, message: str) -> Invalid:
        return cls(message, errors={name: [message]})


class RuleViolation(Invalid):
    """A business rule refused the request; `rule` is a code of RULES.md."""

    def __init__(self, rule: str, message: str, **kwargs: Any) -> None:
        super().__init__(message, rule=rule, **kwargs)
