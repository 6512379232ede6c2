"""API errors, rendered as ``Status`` objects the way kube-apiserver renders them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiError", "Cause", "status_object", "success_status"]

_CODES = {
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "MethodNotAllowed": 405,
    "NotAcceptable": 406,
    "AlreadyExists": 409,
    "Conflict": 409,
    "Gone": 410,
    "UnsupportedMediaType": 415,
    "Invalid": 422,
    "InternalError": 500,
}


@dataclass(frozen=True)
class Cause:
    """One entry of ``details.causes``."""

    reason: str
    message: str
    field: str = ""

    def as_dict(self) -> dict[str, str]:
        out = {"reason": self.reason, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class ApiError(Exception):
    """An API failure; ``reason`` is one of the Kubernetes StatusReasons (``NotFound``, ...)."""

    reason: str
    message: str
    name: str = ""
    group: str = ""
    kind: str = ""
    causes: list[Cause] = field(default_factory=list)
    code: int = 0

    def __post_init__(self) -> None:
        super().__init__(self.message)
        if not self.code:
            self.code = _CODES.get(self.reason, 500)

    def status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.as_dict() for c in self.causes]
        return status_object("Failure", self.message, self.reason, self.code, details)

    # Constructors for the common cases, with the API server's wording.
    @classmethod
    def not_found(cls, plural: str, group: str, name: str) -> "ApiError":
        return cls("NotFound", f'{_qualified(plural, group)} "{name}" not found', name, group, plural)

    @classmethod
    def already_exists(cls, plural: str, group: str, name: str) -> "ApiError":
        return cls("AlreadyExists", f'{_qualified(plural, group)} "{name}" already exists', name, group, plural)

    @classmethod
    def conflict(cls, plural: str, group: str, name: str) -> "ApiError":
        msg = (f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": the object has been '
               "modified; please apply your changes to the latest version and try again")
        return cls("Conflict", msg, name, group, plural)

    @classmethod
    def invalid(cls, kind: str, group: str, name: str, causes: list[Cause]) -> "ApiError":
        listed = ", ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes)
        what = f"{kind}.{group}" if group else kind
        return cls("Invalid", f'{what} "{name}" is invalid: [{listed}]', name, group, kind, list(causes))

    @classmethod
    def bad_request(cls, message: str) -> "ApiError":
        return cls("BadRequest", message)


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def status_object(status: str, message: str, reason: str, code: int,
                  details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``v1 Status`` object."""
    out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": status}
    if message:
        out["message"] = message
    if reason:
        out["reason"] = reason
    if details:
        out["details"] = details
    out["code"] = code
    return out


def success_status(name: str, group: str, plural: str, uid: str) -> dict[str, Any]:
    """What a delete of a built-in kind answers."""
    details = {"name": name, "kind": plural, "uid": uid}
    if group:
        details["group"] = group
    return status_object("Success", "", "", 200, details)
