"""Status interpretation of Cluster API Clusters (v1beta1 and v1beta2 shapes) and message formatting."""
from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.multicluster.gitops.plugins.module_utils._capi_status import (
    WAIT_LEVELS, Condition, describe, display_names, false_conditions, interpret, reached, shape_of, still_missing,
    summary,
)


def cond(ctype: str, status: str = "True", reason: str = "", message: str = "", severity: str = "") -> dict[str, Any]:
    c = {"type": ctype, "status": status, "lastTransitionTime": "2026-01-01T00:00:00Z"}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    if severity:
        c["severity"] = severity
    return c


def cluster(version: str, status: dict[str, Any], *, name: str = "prod-1", namespace: str = "capi",
            endpoint: dict[str, Any] | None = None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": f"cluster.x-k8s.io/{version}", "kind": "Cluster", "metadata": meta,
            "spec": {"controlPlaneEndpoint": endpoint or {}}, "status": status}


# --- v1beta1 objects along a provisioning -------------------------------------------------------------
B1_PENDING = {"phase": "Pending", "conditions": [
    cond("Ready", "False", "WaitingForInfrastructure", severity="Info"),
    cond("InfrastructureReady", "False", "WaitingForInfrastructure", severity="Info")]}
B1_INFRA = {"phase": "Provisioning", "infrastructureReady": True, "conditions": [
    cond("Ready", "False", "WaitingForControlPlane", severity="Info"), cond("InfrastructureReady"),
    cond("ControlPlaneInitialized", "False", "WaitingForControlPlaneProviderInitialized", severity="Info"),
    cond("ControlPlaneReady", "False", "WaitingForControlPlane", severity="Info")]}
B1_CP_INIT = {"phase": "Provisioned", "infrastructureReady": True, "conditions": [
    cond("Ready", "False", "ScalingUp", severity="Warning"), cond("InfrastructureReady"),
    cond("ControlPlaneInitialized"), cond("ControlPlaneReady", "False", "ScalingUp", severity="Warning")]}
B1_READY = {"phase": "Provisioned", "infrastructureReady": True, "controlPlaneReady": True, "conditions": [
    cond("Ready"), cond("InfrastructureReady"), cond("ControlPlaneInitialized"), cond("ControlPlaneReady")]}
B1_READY_WORKERS_DOWN = {**B1_READY, "v1beta2": {"conditions": [
    cond("Available", "False", "NotAvailable", "WorkersAvailable: 0 of 3 available"),
    cond("WorkersAvailable", "False", "NotAvailable", "0 of 3 available")]}}
B1_READY_WORKERS_UP = {**B1_READY, "v1beta2": {"conditions": [cond("Available"), cond("WorkersAvailable")]}}
B1_FAILED_COND = {"phase": "Provisioning", "conditions": [
    cond("Ready", "False", "VcnReconciliationFailed", "quota exceeded", severity="Error"),
    cond("InfrastructureReady", "False", "VcnReconciliationFailed", "quota exceeded", severity="Error")]}
B1_WARNING_FAILED = {"phase": "Provisioning", "conditions": [
    cond("InfrastructureReady", "False", "VcnReconciliationFailed", "429 too many requests", severity="Warning")]}
B1_FAILURE_FIELDS = {"phase": "Failed", "failureReason": "InvalidConfiguration",
                     "failureMessage": "image ocid1.image.x not found"}

# --- v1beta2 objects along a provisioning -------------------------------------------------------------
B2_PENDING = {"phase": "Pending", "conditions": [
    cond("Available", "False", "NotAvailable", "InfrastructureReady: waiting"),
    cond("InfrastructureReady", "False", "NotReady", "OCICluster is provisioning"),
    cond("ControlPlaneInitialized", "False", "NotInitialized"),
    cond("Deleting", "False", "NotDeleting"), cond("Paused", "False", "NotPaused")]}
B2_CP_INIT = {"phase": "Provisioned",
              "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True},
              "conditions": [cond("Available", "False", "NotAvailable"), cond("InfrastructureReady"),
                             cond("ControlPlaneInitialized"),
                             cond("ControlPlaneAvailable", "False", "NotAvailable", "1 of 3 available"),
                             cond("WorkersAvailable", "False", "NotAvailable")]}
B2_CP_AVAIL = {**B2_CP_INIT, "conditions": [cond("Available", "False", "NotAvailable"), cond("InfrastructureReady"),
                                            cond("ControlPlaneInitialized"), cond("ControlPlaneAvailable"),
                                            cond("WorkersAvailable", "False", "NotAvailable")]}
B2_AVAILABLE_PARTIAL_WORKERS = {**B2_CP_INIT, "workers": {"desiredReplicas": 3, "availableReplicas": 2},
                                "conditions": [cond("Available"), cond("InfrastructureReady"),
                                               cond("ControlPlaneInitialized"), cond("ControlPlaneAvailable"),
                                               cond("WorkersAvailable"), cond("RemoteConnectionProbe")]}
B2_ALL = {**B2_AVAILABLE_PARTIAL_WORKERS, "workers": {"desiredReplicas": 3, "availableReplicas": 3}}
B2_INIT_FIELDS_ONLY = {"phase": "Provisioning",
                       "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True}}
B2_INFRA_FAILED = {"phase": "Provisioning", "conditions": [
    cond("InfrastructureReady", "False", "OCIClusterProvisioningFailed", "quota exceeded for VM.Standard.E4.Flex")]}
B2_PROBE_FAILED = {"phase": "Provisioned", "initialization": {"infrastructureProvisioned": True},
                   "conditions": [cond("RemoteConnectionProbe", "False", "ProbeFailed", "connection refused")]}
B2_DEPRECATED_FAILURE = {"phase": "Provisioning", "deprecated": {"v1beta1": {
    "failureReason": "CreateError", "failureMessage": "subnet overlaps"}}}
B2_DEPRECATED_ERROR_COND = {"phase": "Provisioning", "deprecated": {"v1beta1": {"conditions": [
    cond("InfrastructureReady", "False", "SubnetReconciliationFailed", "CIDR in use", severity="Error")]}}}

MILESTONES = ("infrastructure_ready", "control_plane_initialized", "control_plane_ready", "available",
              "workers_ready")


@pytest.mark.parametrize(("version", "status", "expected"), [
    ("v1beta1", B1_PENDING, (False, False, False, False, False)),
    ("v1beta1", B1_INFRA, (True, False, False, False, False)),
    ("v1beta1", B1_CP_INIT, (True, True, False, False, False)),
    ("v1beta1", B1_READY, (True, True, True, True, True)),
    ("v1beta1", B1_READY_WORKERS_DOWN, (True, True, True, False, False)),
    ("v1beta1", B1_READY_WORKERS_UP, (True, True, True, True, True)),
    ("v1beta2", B2_PENDING, (False, False, False, False, False)),
    ("v1beta2", B2_CP_INIT, (True, True, False, False, False)),
    ("v1beta2", B2_CP_AVAIL, (True, True, True, False, False)),
    ("v1beta2", B2_AVAILABLE_PARTIAL_WORKERS, (True, True, True, True, False)),
    ("v1beta2", B2_ALL, (True, True, True, True, True)),
    ("v1beta2", B2_INIT_FIELDS_ONLY, (True, True, False, False, False)),
    ("v1beta2", {}, (False, False, False, False, False)),
], ids=lambda v: v if isinstance(v, str) else None)
def test_milestones(version: str, status: dict[str, Any], expected: tuple[bool, ...]) -> None:
    view = interpret(cluster(version, status))
    assert tuple(view.milestones[m] for m in MILESTONES) == expected
    # Each wait level is reached exactly when all its milestones are.
    assert [reached(view, lvl) for lvl in WAIT_LEVELS] == [
        all(expected[:2]), all(expected[:3]), all(expected[:4]), all(expected)]


@pytest.mark.parametrize(("version", "status", "terminal"), [
    ("v1beta1", B1_PENDING, None),
    ("v1beta1", B1_FAILED_COND, "Ready=False (VcnReconciliationFailed: quota exceeded)"),
    ("v1beta1", B1_WARNING_FAILED, None),
    ("v1beta1", B1_FAILURE_FIELDS, "InvalidConfiguration: image ocid1.image.x not found"),
    ("v1beta1", {"phase": "Failed"}, "phase Failed"),
    ("v1beta2", B2_PENDING, None),
    ("v1beta2", B2_INFRA_FAILED,
     "InfrastructureReady=False (OCIClusterProvisioningFailed: quota exceeded for VM.Standard.E4.Flex)"),
    ("v1beta2", B2_PROBE_FAILED, None),
    ("v1beta2", B2_DEPRECATED_FAILURE, "CreateError: subnet overlaps"),
    ("v1beta2", B2_DEPRECATED_ERROR_COND, "InfrastructureReady=False (SubnetReconciliationFailed: CIDR in use)"),
    ("v1beta2", {"phase": "Failed", "initialization": {}}, "phase Failed"),
])
def test_terminal(version: str, status: dict[str, Any], terminal: str | None) -> None:
    assert interpret(cluster(version, status)).terminal == terminal


@pytest.mark.parametrize(("version", "status"), [
    ("v1beta1", B1_FAILED_COND), ("v1beta2", B2_INFRA_FAILED), ("v1beta2", B2_DEPRECATED_FAILURE)])
def test_fail_fast_off_keeps_waiting_on_failure_conditions(version: str, status: dict[str, Any]) -> None:
    assert interpret(cluster(version, status), fail_fast=False).terminal is None


def test_fail_fast_off_still_stops_on_phase_failed() -> None:
    assert interpret(cluster("v1beta1", B1_FAILURE_FIELDS), fail_fast=False).terminal == "phase Failed"


@pytest.mark.parametrize(("obj", "shape"), [
    (cluster("v1beta1", B1_READY), "v1beta1"),
    (cluster("v1beta2", B2_ALL), "v1beta2"),
    # The stored shape wins over the apiVersion it was served with (an unconverted object).
    (cluster("v1beta2", B1_INFRA), "v1beta1"),
    (cluster("v1beta1", B2_CP_INIT), "v1beta2"),
    (cluster("v1beta2", {"conditions": [cond("Ready", severity="Info")]}), "v1beta1"),
    (cluster("v1beta1", {"conditions": [cond("Available")]}), "v1beta2"),
    (cluster("v1beta1", {}), "v1beta1"),
    (cluster("v1beta2", {}), "v1beta2"),
])
def test_shape(obj: dict[str, Any], shape: str) -> None:
    assert shape_of(obj) == shape


def test_endpoint_and_deleting() -> None:
    view = interpret(cluster("v1beta2", B2_ALL, endpoint={"host": "10.0.0.10", "port": 6443}, deleting=True))
    assert view.endpoint == "https://10.0.0.10:6443"
    assert view.deleting
    assert interpret(cluster("v1beta1", {"phase": "Deleting"})).deleting
    assert interpret(cluster("v1beta1", B1_READY)).endpoint is None


def test_false_conditions_skip_negative_polarity() -> None:
    view = interpret(cluster("v1beta2", B2_PENDING))
    assert [c.type for c in false_conditions(view)] == ["Available", "InfrastructureReady", "ControlPlaneInitialized"]


@pytest.mark.parametrize(("version", "status", "wait_for", "missing"), [
    ("v1beta1", B1_INFRA, "control_plane_ready", ["ControlPlaneInitialized", "ControlPlaneReady"]),
    ("v1beta1", B1_READY, "available", []),
    ("v1beta2", B2_CP_INIT, "workers_ready", ["ControlPlaneAvailable", "Available", "WorkersAvailable"]),
    ("v1beta2", {}, "control_plane_initialized", ["InfrastructureReady", "ControlPlaneInitialized"]),
])
def test_still_missing(version: str, status: dict[str, Any], wait_for: str, missing: list[str]) -> None:
    assert still_missing(interpret(cluster(version, status)), wait_for) == missing


# --- messages ---------------------------------------------------------------------------------------
def test_condition_text() -> None:
    assert Condition("A", "False", "R", "m").text() == "A=False (R: m)"
    assert Condition("A", "False", "R").text() == "A=False (R)"
    assert Condition("A", "False", "", "m").text() == "A=False (m)"
    assert Condition("A", "True").text() == "A=True"


def test_describe_names_phase_and_every_false_condition() -> None:
    view = interpret(cluster("v1beta2", B2_INFRA_FAILED))
    line = describe("prod-1", view, wait_for="available", secret_name="prod-1-kubeconfig", secret_found=False)
    assert line == ("prod-1: phase Provisioning; InfrastructureReady=False (OCIClusterProvisioningFailed: quota "
                    "exceeded for VM.Standard.E4.Flex); kubeconfig Secret prod-1-kubeconfig not found")


def test_describe_v1beta1_lists_all_false_conditions_in_order() -> None:
    view = interpret(cluster("v1beta1", B1_CP_INIT))
    line = describe("ns/prod-1", view, wait_for="available", secret_name="prod-1-kubeconfig", secret_found=True)
    assert line == "ns/prod-1: phase Provisioned; Ready=False (ScalingUp); ControlPlaneReady=False (ScalingUp)"


def test_describe_failure_fields_and_missing_conditions() -> None:
    view = interpret(cluster("v1beta1", B1_FAILURE_FIELDS))
    line = describe("prod-1", view, wait_for="available", secret_name="prod-1-kubeconfig", secret_found=False)
    assert line == ("prod-1: phase Failed; failure InvalidConfiguration: image ocid1.image.x not found; waiting for "
                    "InfrastructureReady=True, ControlPlaneInitialized=True, ControlPlaneReady=True, Ready=True; "
                    "kubeconfig Secret prod-1-kubeconfig not found")


def test_describe_deleted_and_absent() -> None:
    assert describe("a", None, wait_for="available", secret_name="a-kubeconfig", secret_found=False,
                    deleted=True) == "a: deleted during the wait"
    assert describe("a", None, wait_for="available", secret_name="a-kubeconfig",
                    secret_found=False).startswith("a: not found")


def test_describe_being_deleted() -> None:
    view = interpret(cluster("v1beta2", B2_ALL, deleting=True))
    assert describe("a", view, wait_for="available", secret_name="a-kubeconfig",
                    secret_found=True) == "a: phase Provisioned; being deleted"


def test_summary_changes_with_phase_conditions_and_secret() -> None:
    pending = interpret(cluster("v1beta1", B1_PENDING))
    infra = interpret(cluster("v1beta1", B1_INFRA))
    assert summary(pending, secret_found=False) != summary(infra, secret_found=False)
    assert summary(infra, secret_found=False) != summary(infra, secret_found=True)
    assert summary(infra, secret_found=True) == summary(interpret(cluster("v1beta1", B1_INFRA)), secret_found=True)
    assert summary(None, secret_found=False) == "absent"


@pytest.mark.parametrize(("keys", "labels"), [
    (["a/x", "a/y"], ["x", "y"]),
    (["a/x", "b/x"], ["a/x", "b/x"]),
    ([], []),
])
def test_display_names(keys: list[str], labels: list[str]) -> None:
    assert list(display_names(keys).values()) == labels
