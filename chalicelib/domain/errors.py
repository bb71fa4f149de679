"""Domain errors. The API maps each class to one HTTP status in one place (api/errors.py)."""
from __future__ import annotations


class DomainError(Exception):
    title = "error"

    def __init__(self, detail: str, *, pointer: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer


class BadRequest(DomainError):
    """Malformed request: unparseable body, bad query parameter, or a refused state change
    where the reference answers 400 (backing-data actions)."""
    title = "bad request"


class Unauthorized(DomainError):
    title = "unauthorized"


class Forbidden(DomainError):
    title = "forbidden"


class NotFound(DomainError):
    title = "not found"


class Conflict(DomainError):
    """The resource is not in a state that allows the change (including a lost race on a
    conditional write)."""
    title = "conflict"


class Unprocessable(DomainError):
    title = "invalid attribute"


class PayloadTooLarge(DomainError):
    title = "payload too large"


def flag(attrs: dict, name: str, default):
    """A boolean JSON:API attribute: absent or null means `default`; anything else but a
    boolean is a 422 pointing at the attribute."""
    value = attrs.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise Unprocessable(f"{name} must be a boolean", pointer=f"/data/attributes/{name}")
    return value
