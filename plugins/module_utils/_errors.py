# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's exceptions. Helpers raise these; only a module's main() turns them into fail_json."""
from __future__ import annotations

from typing import Any

__all__ = ["CollectionError", "ApiError", "ConfigError", "ResourceTimeout", "InvalidInput"]


class CollectionError(Exception):
    """Base of every error the collection raises on purpose."""

    def __init__(self, msg: str, **details: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def to_fail_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AnsibleModule.fail_json."""
        return {"msg": self.msg, **self.details}


class InvalidInput(CollectionError):
    """The user's input cannot be used; the message says what to fix."""


class ConfigError(CollectionError):
    """Client configuration (kubeconfig, OCI config) is missing or unusable."""


class ApiError(CollectionError):
    """An API answered with an error. Carries the HTTP status, the reason and the API's body."""

    def __init__(self, msg: str, *, status: int | None = None, reason: str | None = None,
                 body: Any = None, request_id: str | None = None) -> None:
        details: dict[str, Any] = {"status": status, "reason": reason}
        if body is not None:
            details["body"] = body
        if request_id is not None:
            details["opc_request_id"] = request_id
        super().__init__(msg, **details)
        self.status = status
        self.reason = reason
        self.body = body
        self.request_id = request_id


class ResourceTimeout(CollectionError):
    """A wait ran out of time. `result` holds what was seen until then."""

    def __init__(self, msg: str, *, result: Any = None) -> None:
        super().__init__(msg, result=result)
        self.result = result
