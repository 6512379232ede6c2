"""The Jinja2 test multicluster.gitops.transient on results kubernetes.core really registers.

k8s_results.json holds results recorded by record_k8s_results.py (beside this file): kubernetes.core tasks
(k8s_info, k8s_info with wait, k8s present, k8s with a list, k8s absent) run through the fault proxy in front of
kubemu, with the fault on the object's requests or on every request (API discovery included). Upstream:
ansible-collections/kubernetes.core @ 6.2.0 : plugins/module_utils/k8s/runner.py (run_module: ``msg`` and the HTTP
``reason``), plugins/module_utils/k8s/service.py (``Failed to retrieve requested object: <Status body>``; k8s_info's
``Exception '<ApiException>' raised while trying to get resource``), plugins/module_utils/k8s/waiter.py and
plugins/module_utils/k8s/core.py (fail_from_exception); discovery errors reach Ansible as ``Module failed: ...``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.multicluster.gitops.plugins.test.transient import TestModule as TransientPlugin
from ansible_collections.multicluster.gitops.plugins.test.transient import transient

RECORDED: dict[str, dict[str, dict[str, Any]]] = json.loads(Path(__file__).with_name("k8s_results.json").read_text())

# case (recorded) -> whether a retry can help
EXPECTED = {
    "resource-500": True, "discovery-500": True, "resource-502": True, "resource-503": True, "resource-504": True,
    "resource-429": True, "resource-reset": True, "discovery-reset": True, "resource-down": True,
    "discovery-refused": True,
    "resource-401": False, "discovery-401": False, "resource-403": False, "resource-409": False, "resource-422": False,
}
PERMANENT = ("k8s_present_invalid", "k8s_unknown_kind", "k8s_info_unknown_kind", "k8s_info_wait_timeout",
             "k8s_wait_timeout")


def _captured(exc: BaseException) -> Any:
    """What ansible-core 2.19 puts under ``exception`` for a module that died of ``exc`` (the view ``until`` gets
    before the error is turned into ``msg``). Upstream: ansible/ansible @ v2.19.14 :
    lib/ansible/_internal/_errors/_captured.py (CapturedErrorSummary), lib/ansible/_internal/_errors/_error_factory.py."""
    from ansible._internal._errors import _captured as captured
    from ansible._internal._errors import _error_factory
    try:
        raise exc
    except BaseException as raised:  # pylint: disable=broad-exception-caught
        return captured.CapturedErrorSummary(event=_error_factory.ControllerEventFactory.from_exception(raised, False),
                                             error_type=captured.AnsibleModuleCapturedError)


def _chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


def _rows() -> list[Any]:
    return [pytest.param(result, EXPECTED[case], id=f"{case}-{task}")
            for case, tasks in sorted(RECORDED.items()) if case in EXPECTED for task, result in sorted(tasks.items())]


def test_the_recording_covers_each_kind_of_fault() -> None:
    assert {"resource-500", "discovery-500", "resource-503", "resource-429", "resource-reset", "discovery-reset",
            "resource-down", "discovery-refused", "resource-403", "discovery-401", "resource-409",
            "resource-422", "no-fault"} <= set(RECORDED)
    assert all(result["failed"] for case in EXPECTED if case in RECORDED for result in RECORDED[case].values())


@pytest.mark.parametrize("result, expected", _rows())
def test_recorded_failures(result: dict[str, Any], expected: bool) -> None:
    assert transient(result) is expected


@pytest.mark.parametrize("task", PERMANENT)
def test_recorded_permanent_errors_are_not_transient(task: str) -> None:
    """A 422 from validation, an unknown kind (with and without a failure), a wait that ran out of time."""
    assert transient(RECORDED["no-fault"][task]) is False


@pytest.mark.parametrize("task", ["k8s_info_ok", "k8s_present_ok"])
def test_recorded_successes_are_not_transient(task: str) -> None:
    result = RECORDED["no-fault"][task]
    assert result["failed"] is False and transient(result) is False


@pytest.mark.parametrize("result, expected", [
    # ApiException text of older kubernetes clients: "(503)\nReason: Service Unavailable"
    ({"failed": True, "msg": "Failed to patch object: (503)\nReason: Service Unavailable\n"}, True),
    # urllib3 timeouts: ReadTimeoutError / ConnectTimeoutError text
    ({"failed": True, "msg": "HTTPSConnectionPool(host='hub', port=6443): Read timed out. (read timeout=60)"}, True),
    ({"failed": True, "msg": "Exception 'HTTPSConnectionPool(host='hub', port=6443): Max retries exceeded with url: "
                             "/api (Caused by ConnectTimeoutError(<urllib3.connection.HTTPSConnection object>, "
                             "'Connection to hub timed out. (connect timeout=10)'))' raised"}, True),
    ({"failed": True, "msg": "('Connection aborted.', RemoteDisconnected('Remote end closed connection without "
                             "response'))"}, True),
    # k8s_info with wait_condition when a GET of the wait is cut: Waiter.wait passes None to custom_condition
    # (ansible-collections/kubernetes.core @ 6.2.0 : plugins/module_utils/k8s/waiter.py), seen through the proxy at 20 %
    ({"failed": True, "changed": False, "msg": "Task failed: Module failed: 'NoneType' object has no attribute 'status'"},
     True),
    ({"failed": True, "exception": _captured(AttributeError("'NoneType' object has no attribute 'status'"))}, True),
    # continue_on_error: the error is in result.error
    ({"failed": True, "error": {"msg": "Failed to apply object: b''", "reason": "Bad Gateway", "status": 502}}, True),
    ({"failed": True, "status": 429, "msg": "throttled"}, True),
    # the status decides over words: a 422 whose message names a field "timeout"
    ({"failed": True, "msg": 'Failed to create object: {"message": "spec.timeout: Invalid value: connection timed out",'
                             ' "code": 422}', "reason": "Unprocessable Entity"}, False),
    ({"failed": True, "msg": "Could not create API client: Invalid kube-config file. No configuration found."}, False),
    ({"failed": True, "msg": "HTTPSConnectionPool(host='nohost', port=6443): Max retries exceeded (Caused by "
                             "NewConnectionError('Failed to establish a new connection: [Errno -2] Name or service "
                             "not known'))"}, False),
    # a transient message cleared by failed_when, a skipped task, and anything that is not a result
    ({"failed": False, "failed_when_result": False, "msg": "500\nReason: Internal Server Error"}, False),
    ({"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}, False),
    (None, False), ("500\nReason: Internal Server Error", False),
    # a loop's registered result: one failed item is transient
    ({"failed": True, "msg": "One or more items failed", "results": [
        {"failed": False, "item": "a"}, {"failed": True, "item": "b", "msg": "503\nReason: Service Unavailable"}]}, True),
    ({"failed": True, "msg": "One or more items failed", "results": [
        {"failed": True, "item": "a", "msg": "403\nReason: Forbidden"}]}, False),
])
def test_other_shapes(result: Any, expected: bool) -> None:
    assert transient(result) is expected


def test_the_plugin_exposes_the_test() -> None:
    assert TransientPlugin().tests() == {"transient": transient}


@pytest.mark.parametrize("exc, expected", [
    (_chained(RuntimeError("HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: /version"),
              ConnectionRefusedError(111, "Connection refused")), True),
    (RuntimeError("500\nReason: Internal Server Error\nHTTP response body: {}"), True),
    (RuntimeError("('Connection broken: IncompleteRead(8 bytes read, 992 more expected)')"), True),
    (RuntimeError("401\nReason: Unauthorized\n"), False),
])
def test_a_module_that_died_is_judged_by_its_captured_error(exc: BaseException, expected: bool) -> None:
    """Only ``failed`` and ``exception`` (no ``msg``): the shape of discovery errors while ``until`` runs."""
    assert transient({"failed": True, "exception": _captured(exc), "changed": False}) is expected
    assert transient({"failed": True, "exception": "(traceback unavailable)"}) is False
