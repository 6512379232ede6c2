# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One OCI client factory for the collection's modules, plus calls, pagination and waits.

Precedence of authentication settings (first match wins), for ``auth_type: api_key``:

1. explicit module options (``api_user``, ``api_user_fingerprint``, ``tenancy``, ``region``,
   ``api_user_key_file`` / ``api_user_key_content``, ``api_user_key_pass_phrase``);
2. environment variables (``OCI_CLI_USER``, ``OCI_CLI_FINGERPRINT``, ``OCI_CLI_TENANCY``,
   ``OCI_CLI_REGION``, ``OCI_CLI_KEY_FILE``, ``OCI_CLI_KEY_CONTENT``, ...), through ``env_fallback``;
3. the profile ``config_profile_name`` (``OCI_CLI_PROFILE``, default ``DEFAULT``) of the config file
   ``config_file_location`` (``OCI_CLI_CONFIG_FILE`` / ``OCI_CONFIG_FILE``, default ``~/.oci/config``).

``auth_type: instance_principal`` and ``resource_principal`` use the principal's signer instead;
only ``region`` is read from the options then (default: the principal's own region).

Every service call goes through :func:`call`: throttling (429), transient server errors and
409 ``IncorrectState`` are retried with exponential back-off; everything else is raised as
:class:`ApiError` carrying the status, the service code and the ``opc-request-id``.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any, Callable

from ansible.module_utils.basic import env_fallback

from ansible_collections.multicluster.gitops.plugins.module_utils._errors import (
    ApiError,
    ConfigError,
    ResourceTimeout,
)

try:
    import oci
    from oci.exceptions import ServiceError
    HAS_OCI = True
    OCI_IMPORT_ERROR: Exception | None = None
except ImportError as e:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_OCI = False
    OCI_IMPORT_ERROR = e

    class ServiceError(Exception):  # type: ignore[no-redef]
        """Placeholder so `except ServiceError` stays valid without the SDK."""

__all__ = [
    "OCI_AUTH_ARG_SPEC",
    "OCI_WAIT_ARG_SPEC",
    "MANAGED_TAG",
    "HAS_OCI",
    "OCI_IMPORT_ERROR",
    "oci_config",
    "oci_client",
    "call",
    "list_all",
    "to_dict",
    "subset_equal",
    "tags_differ",
    "wait_for_work_request",
    "wait_for_state",
    "api_error",
    "delete",
]

#: Freeform tag every resource created by the collection carries; lookups require it.
MANAGED_TAG: dict[str, str] = {"managed-by": "multicluster.gitops"}

OCI_AUTH_ARG_SPEC: dict[str, dict[str, Any]] = {
    "auth_type": {"type": "str", "default": "api_key",
                  "choices": ["api_key", "instance_principal", "resource_principal"],
                  "fallback": (env_fallback, ["OCI_CLI_AUTH", "OCI_ANSIBLE_AUTH_TYPE"])},
    "config_file_location": {"type": "path",
                             "fallback": (env_fallback, ["OCI_CLI_CONFIG_FILE", "OCI_CONFIG_FILE"])},
    "config_profile_name": {"type": "str",
                            "fallback": (env_fallback, ["OCI_CLI_PROFILE", "OCI_CONFIG_PROFILE"])},
    "api_user": {"type": "str", "fallback": (env_fallback, ["OCI_CLI_USER", "OCI_USER_ID"])},
    "api_user_fingerprint": {"type": "str", "no_log": True,
                             "fallback": (env_fallback, ["OCI_CLI_FINGERPRINT", "OCI_USER_FINGERPRINT"])},
    "api_user_key_file": {"type": "path", "no_log": False,
                          "fallback": (env_fallback, ["OCI_CLI_KEY_FILE", "OCI_USER_KEY_FILE"])},
    "api_user_key_content": {"type": "str", "no_log": True,
                             "fallback": (env_fallback, ["OCI_CLI_KEY_CONTENT"])},
    "api_user_key_pass_phrase": {"type": "str", "no_log": True,
                                 "fallback": (env_fallback, ["OCI_CLI_PASSPHRASE", "OCI_USER_KEY_PASS_PHRASE"])},
    "tenancy": {"type": "str", "fallback": (env_fallback, ["OCI_CLI_TENANCY", "OCI_TENANCY"])},
    "region": {"type": "str", "fallback": (env_fallback, ["OCI_CLI_REGION", "OCI_REGION"])},
}

#: Options of every module that waits for OCI operations.
OCI_WAIT_ARG_SPEC: dict[str, dict[str, Any]] = {
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 1800},
}

# option -> key in the SDK config dict
_CONFIG_KEYS = {
    "api_user": "user",
    "api_user_fingerprint": "fingerprint",
    "api_user_key_file": "key_file",
    "api_user_key_content": "key_content",
    "api_user_key_pass_phrase": "pass_phrase",
    "tenancy": "tenancy",
    "region": "region",
}
_DEFAULT_CONFIG_FILE = "~/.oci/config"
_DEFAULT_PROFILE = "DEFAULT"

#: Status codes retried by :func:`call` (409 only with code IncorrectState).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 6
_CLIENT_CACHE: dict[str, Any] = {}
# Indirection so tests replace the clock without touching the real one.
_sleep: Callable[[float], None] = time.sleep
_monotonic: Callable[[], float] = time.monotonic


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


# --- configuration -----------------------------------------------------------------------------
def _file_config(params: dict[str, Any]) -> dict[str, Any]:
    """The profile from the config file, or {} when no file exists and none was asked for."""
    location = params.get("config_file_location")
    profile = params.get("config_profile_name") or _DEFAULT_PROFILE
    path = os.path.expanduser(location or _DEFAULT_CONFIG_FILE)
    if not os.path.exists(path):
        if location:
            raise ConfigError(f"OCI config file {path} does not exist; fix 'config_file_location' "
                              "(OCI_CLI_CONFIG_FILE) or remove it to use explicit credentials.")
        if params.get("config_profile_name"):
            raise ConfigError(f"OCI profile {profile!r} requested but no config file at {path}; "
                              "create it with 'oci setup config' or set 'config_file_location'.")
        return {}
    try:
        cfg = oci.config.from_file(file_location=path, profile_name=profile)
    except oci.exceptions.ProfileNotFound as e:
        raise ConfigError(f"Profile {profile!r} is not in {path}; set 'config_profile_name' "
                          "(OCI_CLI_PROFILE) to one of its sections.") from e
    except (oci.exceptions.InvalidConfig, oci.exceptions.ConfigFileNotFound, ValueError) as e:
        raise ConfigError(f"OCI config file {path} [{profile}] is not usable: {e}") from e
    return dict(cfg)


def oci_config(params: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """(config dict, signer or None) for the SDK clients, following the documented precedence."""
    auth_type = params.get("auth_type") or "api_key"
    if auth_type in ("instance_principal", "resource_principal"):
        return _principal_config(auth_type, params.get("region"))
    cfg = _file_config(params)
    for option, key in _CONFIG_KEYS.items():
        if params.get(option) not in (None, ""):
            cfg[key] = params[option]
    if params.get("api_user_key_content") and not params.get("api_user_key_file"):
        cfg.pop("key_file", None)  # explicit key content wins over the file's key_file
    missing = [opt for opt, key in _CONFIG_KEYS.items()
               if key in ("user", "fingerprint", "tenancy", "region") and not cfg.get(key)]
    if not cfg.get("key_file") and not cfg.get("key_content"):
        missing.append("api_user_key_file or api_user_key_content")
    if missing:
        raise ConfigError(
            "OCI API-key authentication is incomplete; missing " + ", ".join(missing)
            + ". Provide them as options, OCI_CLI_* environment variables, or a profile in ~/.oci/config "
              "(OCI_CLI_CONFIG_FILE / OCI_CLI_PROFILE); or set auth_type to instance_principal.")
    try:
        oci.config.validate_config(cfg)
    except (oci.exceptions.InvalidConfig, ValueError) as e:
        raise ConfigError(f"OCI configuration is invalid: {e}") from e
    return cfg, None


def _principal_config(auth_type: str, region: str | None) -> tuple[dict[str, Any], Any]:
    try:
        if auth_type == "instance_principal":
            signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
        else:
            signer = oci.auth.signers.get_resource_principals_signer()
    except Exception as e:  # the SDK raises plain exceptions (metadata service unreachable, env unset)
        where = ("an OCI compute instance in a dynamic group" if auth_type == "instance_principal"
                 else "an OCI function or job with OCI_RESOURCE_PRINCIPAL_* set")
        raise ConfigError(f"{auth_type} authentication failed: {e}. It works only on {where}; "
                          "use auth_type api_key elsewhere.") from e
    cfg = {"region": region or getattr(signer, "region", None)}
    if not cfg["region"]:
        raise ConfigError(f"No region known for {auth_type}; set 'region' (OCI_CLI_REGION).")
    return cfg, signer


def oci_client(client_cls: Any, params: dict[str, Any]) -> Any:
    """A client of `client_cls` (e.g. oci.core.VirtualNetworkClient), cached per configuration."""
    key = _digest({"cls": f"{client_cls.__module__}.{client_cls.__name__}",
                   **{k: params.get(k) for k in OCI_AUTH_ARG_SPEC}})
    if key in _CLIENT_CACHE:
        return _CLIENT_CACHE[key]
    cfg, signer = oci_config(params)
    kwargs: dict[str, Any] = {"retry_strategy": oci.retry.NoneRetryStrategy()}
    if signer is not None:
        kwargs["signer"] = signer
    try:
        client = client_cls(cfg, **kwargs)
    except (oci.exceptions.InvalidConfig, oci.exceptions.InvalidPrivateKey,
            oci.exceptions.MissingPrivateKeyPassphrase, oci.exceptions.InvalidKeyFilePath, ValueError) as e:
        raise ConfigError(f"Cannot build the OCI client: {e}. Check the key file and its pass phrase.") from e
    _CLIENT_CACHE[key] = client
    return client


# --- calls ----------------------------------------------------------------------------------------
_HINTS = {
    "LimitExceeded": "a service limit is reached; request a limit increase or use a smaller shape/size",
    "QuotaExceeded": "a compartment quota is reached; raise the quota or free resources",
    "NotAuthenticated": "check the user, fingerprint and key (or the principal)",
    "NotAuthorizedOrNotFound": "the resource does not exist or the IAM policies do not allow this "
                               "(see docs/oke.md for the policies)",
    "IncorrectState": "another operation on this resource is still running; retry once it has finished",
    "Conflict": "another operation on this resource is still running; retry once it has finished",
    "TooManyRequests": "the API throttled the requests; retry later",
}


def api_error(operation: str, e: Any) -> ApiError:
    """ApiError from an oci ServiceError, with the opc-request-id and what to do about it."""
    code = getattr(e, "code", None)
    status = getattr(e, "status", None)
    request_id = getattr(e, "request_id", None) or (getattr(e, "headers", None) or {}).get("opc-request-id")
    message = getattr(e, "message", None) or str(e)
    text = f"{operation} failed: {status} {code}: {message}"
    if code == "LimitExceeded" and "quota" in str(message).lower():
        code_hint = _HINTS["QuotaExceeded"]
    else:
        code_hint = _HINTS.get(code or "")
    if code_hint:
        text += f" ({code_hint})"
    text += f" [opc-request-id: {request_id}]"
    return ApiError(text, status=status, reason=code, request_id=request_id,
                    body={"code": code, "message": message})


def _retryable(e: Any) -> bool:
    status = getattr(e, "status", None)
    return status in RETRY_STATUSES or (status == 409 and getattr(e, "code", None) == "IncorrectState")


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call one SDK operation; retry throttling and transient errors; raise ApiError otherwise."""
    operation = getattr(fn, "__name__", "OCI call")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return fn(*args, **kwargs)
        except ServiceError as e:
            if attempt < MAX_ATTEMPTS and _retryable(e):
                _sleep(min(2 ** (attempt - 1), 30))
                continue
            raise api_error(operation, e) from e
        except (oci.exceptions.RequestException, oci.exceptions.ConnectTimeout) as e:
            raise ApiError(f"{operation} failed: cannot reach the OCI endpoint ({e}); check 'region', the "
                           "network and any proxy settings.", reason=type(e).__name__) from e
    raise AssertionError("unreachable")  # pragma: no cover


def delete(fn: Callable[..., Any], resource_id: str, *, what: str, in_use: str) -> Any:
    """Call the delete operation `fn(resource_id)`; a 409 (after call()'s retries) says what still holds it.

    `what` names the resource for the message ("subnet 'hub-lb-subnet'"); `in_use` says what usually
    keeps it in use and what to do about it.
    """
    try:
        return call(fn, resource_id)
    except ApiError as e:
        if e.status != 409:
            raise
        service = (e.body or {}).get("message") if isinstance(e.body, dict) else None
        reason = str(service or e.msg).rstrip(".")
        raise ApiError(f"Cannot delete {what} ({resource_id}) yet: 409 {e.reason}: {reason}. {in_use} "
                       f"[opc-request-id: {e.request_id}]",
                       status=e.status, reason=e.reason, body=e.body, request_id=e.request_id) from e


def list_all(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
    """Every item of a paginated list operation."""
    items: list[Any] = []
    page = None
    while True:
        resp = call(fn, *args, page=page, **kwargs) if page else call(fn, *args, **kwargs)
        data = resp.data
        items.extend(data if isinstance(data, list) else getattr(data, "items", []) or [])
        page = resp.headers.get("opc-next-page") if resp.headers else None
        if not page:
            return items


def to_dict(obj: Any) -> Any:
    """An SDK model (or list of them) as plain data, snake_case keys."""
    return oci.util.to_dict(obj)


def subset_equal(want: Any, have: Any) -> bool:
    """True when every non-None value of `want` is in `have` (dicts by key, lists pairwise, in order)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return False
        return all(subset_equal(v, have.get(k)) for k, v in want.items() if v is not None)
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return False
        return all(subset_equal(w, h) for w, h in zip(want, have))
    return want == have


def tags_differ(want: dict[str, str] | None, have: dict[str, str] | None) -> bool:
    """Whether the freeform tags `want` are missing from, or differ in, `have` (extra tags are kept)."""
    have = have or {}
    return any(have.get(k) != v for k, v in (want or {}).items())


# --- waits ----------------------------------------------------------------------------------------
def wait_for_work_request(client: Any, work_request_id: str, *, timeout: int,
                          progress: list[dict[str, Any]] | None = None,
                          errors_fn: Callable[..., Any] | None = None) -> Any:
    """Wait with the SDK waiter until a Container Engine work request ends; raise unless it SUCCEEDED.

    `progress` receives one entry per observed status change (id, operation, status, elapsed seconds).
    """
    start = _monotonic()

    def fetch(response: Any = None) -> Any:
        return call(client.get_work_request, work_request_id)

    def note(resp: Any) -> None:
        wr = resp.data
        if progress is not None and (not progress or progress[-1].get("status") != wr.status
                                     or progress[-1].get("id") != wr.id):
            progress.append({"id": wr.id, "operation": wr.operation_type, "status": wr.status,
                             "elapsed": round(_monotonic() - start, 1)})

    def finished(resp: Any) -> bool:
        note(resp)
        return resp.data.status in ("SUCCEEDED", "FAILED", "CANCELED")

    first = fetch()
    try:
        final = oci.wait_until(client, first, fetch_func=fetch, evaluate_response=finished,
                               max_wait_seconds=timeout, max_interval_seconds=30)
    except oci.exceptions.MaximumWaitTimeExceeded as e:
        raise ResourceTimeout(f"Work request {work_request_id} did not finish within {timeout}s; "
                              "raise wait_timeout or check it in the console.", result=progress) from e
    wr = final.data
    if wr.status != "SUCCEEDED":
        detail = ""
        if errors_fn is not None:
            try:
                errs = list_all(errors_fn, compartment_id=wr.compartment_id, work_request_id=wr.id)
                detail = "; ".join(f"{x.code}: {x.message}" for x in errs)
            except ApiError:
                detail = ""
        raise ApiError(f"Work request {wr.id} ({wr.operation_type}) ended {wr.status}"
                       + (f": {detail}" if detail else ""),
                       status=None, reason=wr.status, request_id=final.headers.get("opc-request-id")
                       if final.headers else None)
    return wr


def wait_for_state(get_fn: Callable[..., Any], resource_id: str, states: tuple[str, ...], *, timeout: int,
                   progress: list[dict[str, Any]] | None = None, gone_ok: bool = False) -> Any:
    """Wait with the SDK waiter until `get_fn(resource_id).data.lifecycle_state` is in `states`.

    With `gone_ok`, a 404 ends the wait too (deletions) and None is returned.
    """
    start = _monotonic()

    def fetch(response: Any = None) -> Any:
        return call(get_fn, resource_id)

    def evaluate(resp: Any) -> bool:
        state = resp.data.lifecycle_state
        if progress is not None and (not progress or progress[-1].get("state") != state
                                     or progress[-1].get("id") != resource_id):
            progress.append({"id": resource_id, "state": state, "elapsed": round(_monotonic() - start, 1)})
        return state in states

    try:
        first = fetch()
    except ApiError as e:
        if gone_ok and e.status == 404:
            return None
        raise
    try:
        final = oci.wait_until(get_fn, first, fetch_func=fetch, evaluate_response=evaluate,
                               max_wait_seconds=timeout, max_interval_seconds=30)
    except ApiError as e:
        if gone_ok and e.status == 404:
            return None
        raise
    except oci.exceptions.MaximumWaitTimeExceeded as e:
        raise ResourceTimeout(f"{resource_id} did not reach {'/'.join(states)} within {timeout}s; "
                              "raise wait_timeout.", result=progress) from e
    return final.data
