# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a Cluster API ``Cluster`` object says about its readiness, in either API shape.

Pure functions over the object as the API returns it; no I/O. Two shapes exist:

* ``v1beta1``: ``status.phase``, ``status.infrastructureReady``, ``status.controlPlaneReady``,
  ``status.failureReason`` / ``failureMessage``, conditions with a ``severity`` (``Ready``,
  ``InfrastructureReady``, ``ControlPlaneInitialized``, ``ControlPlaneReady``) and, from CAPI 1.9 on,
  the new conditions under ``status.v1beta2.conditions``;
* ``v1beta2``: ``status.phase``, ``status.initialization.infrastructureProvisioned`` /
  ``controlPlaneInitialized``, conditions without severity (``Available``, ``InfrastructureReady``,
  ``ControlPlaneInitialized``, ``ControlPlaneAvailable``, ``WorkersAvailable``,
  ``RemoteConnectionProbe``, ...), ``status.workers`` replica counts, and the old failure fields and
  conditions under ``status.deprecated.v1beta1``.

The shape is read from the status itself (falling back to ``apiVersion``), so an object is understood
whichever version served it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

__all__ = [
    "WAIT_LEVELS",
    "DEFAULT_WAIT_FOR",
    "Condition",
    "ClusterView",
    "shape_of",
    "interpret",
    "reached",
    "still_missing",
    "false_conditions",
    "summary",
    "describe",
    "display_names",
]

# Ordered from the earliest to the latest milestone; each level includes the ones before it.
WAIT_LEVELS: tuple[str, ...] = ("control_plane_initialized", "control_plane_ready", "available", "workers_ready")
DEFAULT_WAIT_FOR = "available"

_MILESTONES: dict[str, tuple[str, ...]] = {
    "control_plane_initialized": ("infrastructure_ready", "control_plane_initialized"),
    "control_plane_ready": ("infrastructure_ready", "control_plane_initialized", "control_plane_ready"),
    "available": ("infrastructure_ready", "control_plane_initialized", "control_plane_ready", "available"),
    "workers_ready": ("infrastructure_ready", "control_plane_initialized", "control_plane_ready", "available",
                      "workers_ready"),
}

# The condition that tells about a milestone, per shape (used to say what is still missing).
_MILESTONE_CONDITION: dict[str, dict[str, str]] = {
    "v1beta1": {"infrastructure_ready": "InfrastructureReady", "control_plane_initialized": "ControlPlaneInitialized",
                "control_plane_ready": "ControlPlaneReady", "available": "Ready", "workers_ready": "WorkersAvailable"},
    "v1beta2": {"infrastructure_ready": "InfrastructureReady", "control_plane_initialized": "ControlPlaneInitialized",
                "control_plane_ready": "ControlPlaneAvailable", "available": "Available",
                "workers_ready": "WorkersAvailable"},
}

# v1beta2 conditions of negative polarity: False is their healthy state, so they are never reported as a problem.
_NEGATIVE_POLARITY = frozenset({"Deleting", "Paused", "ScalingUp", "ScalingDown", "Remediating", "RollingOut"})

# v1beta2 conditions whose `*Failed` reason (mirrored from the provider) ends the wait.
_V1BETA2_TERMINAL_TYPES = ("InfrastructureReady", "ControlPlaneInitialized", "ControlPlaneAvailable")


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""
    severity: str = ""

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> "Condition":
        return cls(type=str(raw.get("type", "")), status=str(raw.get("status", "Unknown")),
                   reason=str(raw.get("reason") or ""), message=str(raw.get("message") or "").strip(),
                   severity=str(raw.get("severity") or ""))

    def text(self) -> str:
        """``InfrastructureReady=False (Reason: message)``."""
        detail = ": ".join(part for part in (self.reason, self.message) if part)
        return f"{self.type}={self.status}" + (f" ({detail})" if detail else "")

    def as_dict(self) -> dict[str, str]:
        out = {"type": self.type, "status": self.status, "reason": self.reason, "message": self.message}
        if self.severity:
            out["severity"] = self.severity
        return out


@dataclass(frozen=True)
class ClusterView:
    """The readiness-relevant facts of one Cluster object."""

    namespace: str
    name: str
    shape: str
    phase: str
    conditions: tuple[Condition, ...]
    milestones: dict[str, bool] = field(default_factory=dict)
    terminal: str | None = None
    deleting: bool = False
    endpoint: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def condition(self, ctype: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == ctype), None)


def _conditions(raw: Any) -> tuple[Condition, ...]:
    return tuple(Condition.from_api(c) for c in raw or () if isinstance(c, dict) and c.get("type"))


def _is_true(conds: Iterable[Condition], ctype: str) -> bool | None:
    """True/False when the condition is reported, None when it is absent."""
    for c in conds:
        if c.type == ctype:
            return c.status == "True"
    return None


def shape_of(obj: dict[str, Any]) -> str:
    """'v1beta1' or 'v1beta2': the shape of the object's status."""
    status = obj.get("status") or {}
    if any(k in status for k in ("initialization", "deprecated", "controlPlane", "workers")):
        return "v1beta2"
    if any(k in status for k in ("infrastructureReady", "controlPlaneReady", "failureReason", "failureMessage",
                                 "v1beta2")):
        return "v1beta1"
    conds = status.get("conditions") or []
    if any(isinstance(c, dict) and c.get("severity") for c in conds):
        return "v1beta1"
    types = {c.get("type") for c in conds if isinstance(c, dict)}
    if types & {"Available", "ControlPlaneAvailable", "WorkersAvailable", "RemoteConnectionProbe"}:
        return "v1beta2"
    if "Ready" in types:
        return "v1beta1"
    return "v1beta2" if str(obj.get("apiVersion", "")).endswith("/v1beta2") else "v1beta1"


def _endpoint(obj: dict[str, Any]) -> str | None:
    ep = (obj.get("spec") or {}).get("controlPlaneEndpoint") or {}
    if not ep.get("host"):
        return None
    return f"https://{ep['host']}:{ep.get('port') or 6443}"


def _failure_text(reason: Any, message: Any) -> str | None:
    parts = [str(p).strip() for p in (reason, message) if p]
    return ": ".join(parts) if parts else None


def _error_condition(conds: Iterable[Condition]) -> Condition | None:
    """A v1beta1 condition that reports a failure: False, severity Error, reason ending in 'Failed'."""
    return next((c for c in conds if c.status == "False" and c.severity == "Error" and c.reason.endswith("Failed")),
                None)


def _terminal_v1beta1(status: dict[str, Any], conds: tuple[Condition, ...]) -> str | None:
    failure = _failure_text(status.get("failureReason"), status.get("failureMessage"))
    if failure:
        return failure
    cond = _error_condition(conds)
    return cond.text() if cond else None


def _terminal_v1beta2(status: dict[str, Any], conds: tuple[Condition, ...]) -> str | None:
    old = ((status.get("deprecated") or {}).get("v1beta1")) or {}
    failure = _failure_text(old.get("failureReason"), old.get("failureMessage"))
    if failure:
        return failure
    cond = _error_condition(_conditions(old.get("conditions")))
    if cond:
        return cond.text()
    cond = next((c for c in conds if c.type in _V1BETA2_TERMINAL_TYPES and c.status == "False"
                 and c.reason.endswith("Failed")), None)
    return cond.text() if cond else None


def _milestones_v1beta1(status: dict[str, Any], conds: tuple[Condition, ...]) -> dict[str, bool]:
    new = _conditions((status.get("v1beta2") or {}).get("conditions"))
    infra = bool(status.get("infrastructureReady")) or bool(_is_true(conds, "InfrastructureReady"))
    cp_field = bool(status.get("controlPlaneReady"))
    cp_cond = _is_true(conds, "ControlPlaneReady")
    cp_ready = cp_cond if cp_cond is not None else cp_field
    cp_init = bool(_is_true(conds, "ControlPlaneInitialized")) or bool(_is_true(new, "ControlPlaneInitialized")) \
        or cp_ready
    available = bool(_is_true(conds, "Ready")) and _is_true(new, "Available") is not False
    workers = _is_true(new, "WorkersAvailable")
    return {"infrastructure_ready": infra, "control_plane_initialized": cp_init, "control_plane_ready": cp_ready,
            "available": available, "workers_ready": available if workers is None else bool(workers)}


def _milestones_v1beta2(status: dict[str, Any], conds: tuple[Condition, ...]) -> dict[str, bool]:
    init = status.get("initialization") or {}
    workers = status.get("workers") or {}
    replicas_ok = True
    if workers.get("desiredReplicas") is not None:
        replicas_ok = int(workers.get("availableReplicas") or 0) >= int(workers["desiredReplicas"])
    return {
        "infrastructure_ready": bool(init.get("infrastructureProvisioned")) or bool(
            _is_true(conds, "InfrastructureReady")),
        "control_plane_initialized": bool(init.get("controlPlaneInitialized")) or bool(
            _is_true(conds, "ControlPlaneInitialized")),
        "control_plane_ready": bool(_is_true(conds, "ControlPlaneAvailable")),
        "available": bool(_is_true(conds, "Available")),
        "workers_ready": bool(_is_true(conds, "WorkersAvailable")) and replicas_ok,
    }


def interpret(obj: dict[str, Any], *, fail_fast: bool = True) -> ClusterView:
    """Read one Cluster object.

    ``terminal`` is set when the cluster cannot become ready without someone acting: phase ``Failed``
    always; with ``fail_fast`` also the failure fields and failure conditions (see docs/readiness.md).
    """
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    shape = shape_of(obj)
    conds = _conditions(status.get("conditions"))
    phase = str(status.get("phase") or "Pending")
    if shape == "v1beta1":
        milestones = _milestones_v1beta1(status, conds)
        terminal = _terminal_v1beta1(status, conds) if fail_fast else None
    else:
        milestones = _milestones_v1beta2(status, conds)
        terminal = _terminal_v1beta2(status, conds) if fail_fast else None
    if phase == "Failed" and not terminal:
        terminal = "phase Failed"
    return ClusterView(namespace=str(meta.get("namespace") or "default"), name=str(meta.get("name", "")),
                       shape=shape, phase=phase, conditions=conds, milestones=milestones, terminal=terminal,
                       deleting=bool(meta.get("deletionTimestamp")) or phase == "Deleting", endpoint=_endpoint(obj))


def reached(view: ClusterView, wait_for: str) -> bool:
    """Whether the cluster has reached ``wait_for`` (the kubeconfig Secret is checked by the caller)."""
    return all(view.milestones.get(m) for m in _MILESTONES[wait_for])


def still_missing(view: ClusterView, wait_for: str) -> list[str]:
    """Condition types still to turn True for ``wait_for``, earliest first."""
    names = _MILESTONE_CONDITION[view.shape]
    return [names[m] for m in _MILESTONES[wait_for] if not view.milestones.get(m)]


def false_conditions(view: ClusterView) -> list[Condition]:
    """Every condition reporting a problem (False, positive polarity), in the order the API lists them."""
    return [c for c in view.conditions if c.status == "False" and c.type not in _NEGATIVE_POLARITY]


def summary(view: ClusterView | None, *, secret_found: bool) -> str:
    """A one-line fingerprint of what a user would want to see change: phase, conditions, Secret."""
    if view is None:
        return "absent"
    conds = ", ".join(f"{c.type}={c.status}" + (f"({c.reason})" if c.status != "True" and c.reason else "")
                      for c in view.conditions)
    return f"{view.phase} [{conds}] kubeconfig={'yes' if secret_found else 'no'}"


def display_names(keys: Iterable[str]) -> dict[str, str]:
    """'ns/name' -> the shortest unambiguous label: the bare name when every key shares one namespace."""
    keys = list(keys)
    namespaces = {k.split("/", 1)[0] for k in keys}
    return {k: (k.split("/", 1)[1] if len(namespaces) <= 1 else k) for k in keys}


def describe(label: str, view: ClusterView | None, *, wait_for: str, secret_name: str, secret_found: bool,
             deleted: bool = False) -> str:
    """One line per cluster for failure and timeout messages: its phase and every false condition.

    ``prod-1: phase Provisioning; InfrastructureReady=False (OCIClusterProvisioningFailed: quota exceeded)``
    """
    if deleted:
        return f"{label}: deleted during the wait"
    if view is None:
        return f"{label}: not found (no Cluster object of that name exists)"
    parts = [f"phase {view.phase}"]
    if view.deleting:
        parts.append("being deleted")
    if view.terminal and not any(view.terminal == c.text() for c in view.conditions):
        parts.append(f"failure {view.terminal}")
    parts.extend(c.text() for c in false_conditions(view))
    if not false_conditions(view):
        missing = still_missing(view, wait_for)
        if missing:
            parts.append("waiting for " + ", ".join(f"{m}=True" for m in missing))
    if not secret_found:
        parts.append(f"kubeconfig Secret {secret_name} not found")
    return f"{label}: " + "; ".join(parts)
