# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 test ``multicluster.gitops.transient``: did a registered kubernetes.core task fail for a transient reason?

Where the result comes from: ansible-collections/kubernetes.core @ 6.2.0 : ``plugins/module_utils/k8s/runner.py`` (``run_module``: a failed
action returns ``msg`` and the HTTP ``reason``), ``plugins/module_utils/k8s/service.py`` (``Failed to retrieve /
create / apply / patch / delete object: <API Status body>``; ``find`` of k8s_info: ``Exception '<ApiException>'
raised while trying to get resource``), ``plugins/module_utils/k8s/waiter.py`` and
``plugins/module_utils/k8s/core.py`` (``fail_from_exception``); an exception raised outside those (API discovery)
reaches Ansible as a module failure: ``msg`` once the task is done, but while ``until`` runs only the captured error
in ``exception`` (ansible-core 2.19 ``lib/ansible/_internal/_errors/_captured.py``). The kubernetes client's ``ApiException``
text starts with the status and reason (``500\\nReason: Internal Server Error``); urllib3 names connection
failures (``Connection refused``, ``IncompleteRead``, ``ProtocolError``, ``Read timed out``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

DOCUMENTATION = r"""
name: transient
author: multicluster.gitops contributors
version_added: 0.1.0
short_description: Whether a registered Kubernetes task result failed for a reason worth retrying
description:
  - True when the task failed and the failure is transient - an HTTP status 429, 500, 502, 503 or 504, a refused,
    reset or broken connection, an incomplete read (C(IncompleteRead), C(ProtocolError)), or a timeout of the
    connection or of a read; also kubernetes.core's wait dying of C('NoneType' object has no attribute 'status'),
    which is how its waiter fails when a connection breaks during the wait.
  - False for a result that did not fail (success, skipped, or cleared by C(failed_when)), and for permanent errors
    - every other HTTP status (400, 401, 403, 404, 409 conflict, 422 validation errors), an unknown kind
    (C(Failed to find exact match)), a wait that timed out, a bad kubeconfig.
  - When the text holds an HTTP status, the status decides; the connection patterns are read only when it holds
    none (a 422 message may mention a field named C(timeout)).
  - Reads the fields kubernetes.core modules fail with (C(msg), C(reason), C(status), C(error), C(module_stderr),
    C(module_stdout)) and the error a module died of (C(exception), which is all an C(until) condition gets for
    it); for the registered result of a loop (C(results)), true when a failed item is transient.
  - >-
    The collection's roles and playbooks put it on every C(kubernetes.core) task except Helm, as
    C(until: result is not multicluster.gitops.transient), with C(retries) from C(mcg_k8s_retries) (default 5) and
    C(delay) from C(mcg_k8s_retry_delay) (default 3 seconds), so a transient error is retried and a permanent one
    fails at once.
options:
  _input:
    description: A registered task result.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Read the Argo CD namespace, retrying transient API errors only
  kubernetes.core.k8s_info:
    api_version: v1
    kind: Namespace
    name: argocd
  register: ns
  retries: "{{ mcg_k8s_retries | default(5) }}"
  delay: "{{ mcg_k8s_retry_delay | default(3) }}"
  until: ns is not multicluster.gitops.transient

- name: A wait loop keeps its own condition; a transient error counts as "not yet", a permanent one stops it
  kubernetes.core.k8s_info:
    api_version: v1
    kind: Service
    name: ingress-nginx-controller
    namespace: ingress-nginx
  register: svc
  until: >-
    svc is not multicluster.gitops.transient
    and (svc is failed or svc.resources[0].status.loadBalancer.ingress | default([]) | length > 0)
  retries: 60
  delay: 10
"""

RETURN = r"""
_value:
  description: Whether the result is a failure worth retrying.
  type: boolean
"""

__all__ = ["TestModule", "transient"]

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

# "500\nReason: Internal Server Error" (kubernetes-client ApiException.__str__, older versions "(500)\nReason:"),
# "HTTP 503" / "status 503", and the API's Status body ("code":500).
_STATUS_PATTERNS = (
    re.compile(r"\(?\b([1-5]\d\d)\)?\s*\n?\s*Reason:"),
    re.compile(r'"code"\s*:\s*([1-5]\d\d)\b'),
    re.compile(r"\b(?:HTTP|status(?: code)?)[ :]+([1-5]\d\d)\b", re.I),
)
_REASONS = {
    "too many requests": 429, "internal server error": 500, "bad gateway": 502, "service unavailable": 503,
    "gateway timeout": 504, "bad request": 400, "unauthorized": 401, "forbidden": 403, "not found": 404,
    "conflict": 409, "unprocessable entity": 422,
}
_TRANSIENT_TEXT = re.compile(
    r"connection refused|connection reset|connection aborted|connection broken|remote end closed connection"
    r"|remotedisconnected|incompleteread|protocolerror|broken pipe|brokenpipeerror|connectionreseterror"
    r"|eof occurred in violation of protocol|read timed out|timed out\. \((?:read|connect) timeout"
    r"|readtimeouterror|connecttimeouterror|connection timed out|\[errno 110\]|\[errno 111\]|\[errno 104\]",
    re.I,
)
# kubernetes.core 6.2.0 plugins/module_utils/k8s/waiter.py: when a GET of a wait fails with a urllib3 HTTPError (a cut
# connection), Waiter.wait calls the predicate with None and custom_condition dies on ``resource.status``.
_WAITER_LOST_RESPONSE = re.compile(r"'NoneType' object has no attribute 'status'")
_FIELDS = ("msg", "reason", "module_stderr", "module_stdout")


def _exception_texts(result: Mapping[str, Any]) -> list[str]:
    """The messages of the exception a module died of, and of its causes.

    While ``until`` runs, ansible-core 2.19 has not yet turned a module's uncaught exception into ``msg``: the result
    holds only ``failed`` and ``exception``, whose template view is ``(traceback unavailable)``. The captured error
    itself (an ErrorSummary whose ``event`` has ``msg`` and a ``chain`` of causes) is read from the dict underneath.
    A traceback string (older ansible-core, or tracebacks displayed) gives its unindented lines.
    """
    raw = dict.get(result, "exception") if isinstance(result, dict) else result.get("exception")
    raw = getattr(raw, "value", raw)  # a value not yet templated
    if isinstance(raw, str):
        return [line for line in raw.splitlines() if line and not line[0].isspace() and not line.startswith("Traceback")]
    texts = []
    event = getattr(raw, "event", None)
    while event is not None and len(texts) < 20:
        if getattr(event, "msg", None):
            texts.append(str(event.msg))
        event = getattr(getattr(event, "chain", None), "event", None)
    return texts


def _texts(result: Mapping[str, Any]) -> list[str]:
    texts = [str(result[k]) for k in _FIELDS if result.get(k)] + _exception_texts(result)
    error = result.get("error")
    if isinstance(error, Mapping):
        texts += [str(error[k]) for k in _FIELDS if error.get(k)]
        if isinstance(error.get("status"), int):
            texts.append(f"HTTP {error['status']}")
    elif error:
        texts.append(str(error))
    return texts


def _status(result: Mapping[str, Any], texts: list[str]) -> int | None:
    """The HTTP status of the failure, from a ``status`` field, the exception text, the API's Status body or reason."""
    status = result.get("status")
    if isinstance(status, int) and 100 <= status <= 599:
        return status
    for text in texts:
        for pattern in _STATUS_PATTERNS:
            match = pattern.search(text)
            if match:
                return int(match.group(1))
    reason = str(result.get("reason") or "").strip().lower()
    return _REASONS.get(reason)


def _one(result: Mapping[str, Any]) -> bool:
    if not result.get("failed"):
        return False
    texts = _texts(result)
    status = _status(result, texts)
    if status is not None:
        return status in TRANSIENT_STATUSES
    return any(_TRANSIENT_TEXT.search(text) or _WAITER_LOST_RESPONSE.search(text) for text in texts)


def transient(result: Any) -> bool:
    """True when ``result`` (a registered task result) failed with a transient error (see DOCUMENTATION)."""
    if not isinstance(result, Mapping):
        return False
    items = result.get("results")
    if isinstance(items, Sequence) and not isinstance(items, (str, bytes)) and items \
            and all(isinstance(item, Mapping) for item in items):
        return any(_one(item) for item in items)
    return _one(result)


class TestModule:
    """Jinja2 tests of multicluster.gitops."""

    def tests(self) -> dict[str, Any]:
        return {"transient": transient}
