"""A simulated Cluster API infrastructure controller for the sandbox.

It reconciles the CAPI ``Cluster`` objects of an emulated hub (reading and writing the hub's store
in-process; every write is seen by API clients and watches as if a controller had made it), and for
each one:

* moves ``status`` through the phases and conditions of the v1beta2 API
  (Pending → Provisioning → Provisioned, conditions InfrastructureReady, ControlPlaneInitialized,
  ControlPlaneAvailable, WorkersAvailable, RemoteConnectionProbe, Available), one step every
  ``step_seconds``;
* when the control plane is initialised, starts a fresh emulated API server for the workload cluster
  and writes ``<cluster>-kubeconfig`` (type ``cluster.x-k8s.io/secret``, label
  ``cluster.x-k8s.io/cluster-name``, kubeconfig under ``data.value`` with a client certificate),
  as CAPI does;
* for an OKE cluster (``infrastructureRef`` OCIManagedCluster / ``controlPlaneRef`` OCIManagedControlPlane) also
  moves those two objects as CAPOCI v0.24.0 does (``status.ready``, ``status.initialized``, ``status.version``,
  the v1beta1-style conditions ``ClusterReady`` / ``ControlPlaneReady`` and the ``Ready`` summary, and
  ``spec.controlPlaneEndpoint``), gives the Cluster the reasons CAPI v1.12 derives from them, and writes the
  kubeconfig as CAPOCI does: owned by the OCIManagedControlPlane, user ``<cluster>-capi-admin`` with a bearer
  token that the workload API accepts for ``oke_token_seconds`` only (OKE's tokens are signed requests that
  expire within minutes). The simulator refreshes the token in the Secret at half its life, as CAPOCI's
  reconcile does, so only a copy taken earlier stops working;
* fails the cluster when it carries the annotation ``sandbox.multicluster.gitops/fail`` (its value is
  the failure message): ``InfrastructureReady=False`` with reason ``OCIClusterProvisioningFailed`` and
  phase ``Failed``;
* on deletion (the controller puts its finalizer on every Cluster) stops the workload server, deletes
  the kubeconfig Secret and removes the finalizer.

It also stands in for the controllers that would report other objects ready: Cluster API Operator
providers get ``Ready=True`` and ``status.installedVersion``, Kyverno ClusterPolicies get ``Ready=True``.
"""
from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import yaml

__all__ = ["CapiSimulator", "FAIL_ANNOTATION", "FINALIZER", "OKE_TOKEN_LABEL", "OKE_TOKEN_SECONDS", "READY_KINDS",
           "STEPS", "is_oke"]

log = logging.getLogger("kubemu.capi_sim")

GROUP = "cluster.x-k8s.io"
INFRA = "infrastructure.cluster.x-k8s.io/v1beta2"
OKE_INFRA_KIND = "OCIManagedCluster"
OKE_CONTROL_PLANE_KIND = "OCIManagedControlPlane"
# How long the workload API accepts one OKE kubeconfig token (seconds).
OKE_TOKEN_SECONDS = 240.0
# Label of the stand-in token Secrets on an OKE cluster's API (kube-system): each holds one accepted token.
OKE_TOKEN_LABEL = "sandbox.multicluster.gitops/oke-kubeconfig-token"
FAIL_ANNOTATION = "sandbox.multicluster.gitops/fail"
FINALIZER = "sandbox.multicluster.gitops/cluster"
CONDITION_TYPES = ("InfrastructureReady", "ControlPlaneInitialized", "ControlPlaneAvailable", "WorkersAvailable",
                   "RemoteConnectionProbe", "Available")
# Each step: phase, the conditions that are true from then on, the initialization flags.
# Objects other controllers would mark Ready: (apiVersion, kind).
READY_KINDS = tuple(("operator.cluster.x-k8s.io/v1alpha2", kind) for kind in (
    "CoreProvider", "BootstrapProvider", "ControlPlaneProvider", "InfrastructureProvider", "AddonProvider",
)) + (("kyverno.io/v1", "ClusterPolicy"),)
STEPS: tuple[tuple[str, frozenset[str], dict[str, bool]], ...] = (
    ("Pending", frozenset(), {"infrastructureProvisioned": False, "controlPlaneInitialized": False}),
    ("Provisioning", frozenset({"InfrastructureReady"}),
     {"infrastructureProvisioned": True, "controlPlaneInitialized": False}),
    ("Provisioned", frozenset({"InfrastructureReady", "ControlPlaneInitialized", "RemoteConnectionProbe"}),
     {"infrastructureProvisioned": True, "controlPlaneInitialized": True}),
    ("Provisioned", frozenset(CONDITION_TYPES), {"infrastructureProvisioned": True, "controlPlaneInitialized": True}),
)
_WAITING_REASONS = {
    "InfrastructureReady": ("Provisioning", "OCI network and load balancer are being created"),
    "ControlPlaneInitialized": ("WaitingForControlPlane", "control plane machine is being created"),
    "ControlPlaneAvailable": ("WaitingForControlPlane", "control plane is not yet available"),
    "WorkersAvailable": ("WaitingForWorkers", "worker machines are being created"),
    "RemoteConnectionProbe": ("ProbeFailed", "workload API server does not answer yet"),
    "Available": ("NotAvailable", "cluster is not available yet"),
}

# OKE: the Cluster's v1beta2 conditions as CAPI v1.12 derives them from CAPOCI's objects, which follow the v1beta1
# contract (kubernetes-sigs/cluster-api @ v1.12.0 : internal/controllers/cluster/cluster_controller_status.go):
# InfrastructureReady mirrors OCIManagedCluster's Ready (a v1beta1 condition without a reason becomes "Ready") or
# falls back on its provisioned flag; ControlPlaneInitialized reads OCIManagedControlPlane status.initialized;
# ControlPlaneAvailable has no Available condition to mirror and falls back on the initialized flag.
# type -> (reason when True, reason when False, message when False)
_OKE_REASONS = {
    "InfrastructureReady": ("Ready", "NotReady", f"{OKE_INFRA_KIND} status.initialization.provisioned is false"),
    "ControlPlaneInitialized": ("Initialized", "NotInitialized", "Control plane not yet initialized"),
    "ControlPlaneAvailable": ("Available", "NotAvailable",
                              f"{OKE_CONTROL_PLANE_KIND} status.initialization.controlPlaneInitialized is false"),
    "WorkersAvailable": ("Available", "NotAvailable", "MachinePool is not available yet"),
    "RemoteConnectionProbe": ("ProbeSucceeded", "ProbeFailed", "workload API server does not answer yet"),
    "Available": ("Available", "NotAvailable", "cluster is not available yet"),
}


def is_oke(cluster: dict[str, Any]) -> bool:
    """Whether the Cluster is CAPOCI's OKE kind (OCIManagedCluster / OCIManagedControlPlane)."""
    spec = cluster.get("spec") or {}
    return ((spec.get("infrastructureRef") or {}).get("kind") == OKE_INFRA_KIND
            or (spec.get("controlPlaneRef") or {}).get("kind") == OKE_CONTROL_PLANE_KIND)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Tracked:
    namespace: str
    name: str
    step: int = -1
    next_at: float = 0.0
    failed: bool = False
    server: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class CapiSimulator:
    """Drives CAPI Clusters on `hub` (a started kubemu KubeServer) through their lifecycle.

    `server_factory(name)` returns a started KubeServer for a workload cluster.
    """

    def __init__(self, hub: Any, server_factory: Callable[[str], Any], *, step_seconds: float = 1.0,
                 tick_seconds: float = 0.1, oke_token_seconds: float = OKE_TOKEN_SECONDS) -> None:
        self.hub = hub
        self.oke_token_seconds = oke_token_seconds
        self.server_factory = server_factory
        self.step_seconds = step_seconds
        self.tick_seconds = tick_seconds
        self.tracked: dict[tuple[str, str], _Tracked] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._version: str | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "CapiSimulator":
        self._thread = threading.Thread(target=self._run, name="capi-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        for item in self.tracked.values():
            if item.server is not None:
                item.server.stop()

    def workload_servers(self) -> dict[str, Any]:
        return {f"{t.namespace}/{t.name}": t.server for t in self.tracked.values() if t.server is not None}

    # --- loop ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile_all()
            except Exception:  # keep the controller alive, like a real one; the next tick retries
                log.exception("capi simulator reconcile failed")
            self._stop.wait(self.tick_seconds)

    def _cluster_version(self) -> str | None:
        if self._version is None:
            for version in ("v1beta2", "v1beta1"):
                if self.hub.serves(f"{GROUP}/{version}", "Cluster"):
                    self._version = version
                    break
        return self._version

    def reconcile_all(self) -> None:
        self.mark_ready()
        version = self._cluster_version()
        if version is None:
            return
        seen = set()
        for cluster in self.hub.list(f"{GROUP}/{version}", "Cluster"):
            meta = cluster["metadata"]
            key = (meta.get("namespace", "default"), meta["name"])
            seen.add(key)
            item = self.tracked.setdefault(key, _Tracked(*key))
            self._reconcile(version, cluster, item)
        for key in [k for k in self.tracked if k not in seen]:
            self._forget(self.tracked.pop(key))

    def mark_ready(self) -> None:
        """Report providers and policies Ready, as their controllers would once they run."""
        for api_version, kind in READY_KINDS:
            if not self.hub.serves(api_version, kind):
                continue
            for obj in self.hub.list(api_version, kind):
                status = obj.get("status") or {}
                if any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []):
                    continue
                ready = {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "",
                         "lastTransitionTime": _now()}
                new_status = {**status, "conditions": [c for c in status.get("conditions") or []
                                                       if c.get("type") != "Ready"] + [ready]}
                if kind.endswith("Provider") and (obj.get("spec") or {}).get("version"):
                    new_status["installedVersion"] = obj["spec"]["version"]
                meta = obj["metadata"]
                self.hub.patch_status(api_version, kind, meta["name"], meta.get("namespace"), new_status)

    def _reconcile(self, version: str, cluster: dict[str, Any], item: _Tracked) -> None:
        meta = cluster["metadata"]
        if meta.get("deletionTimestamp"):
            self._delete(version, cluster, item)
            return
        if FINALIZER not in (meta.get("finalizers") or []):
            cluster = self._add_finalizer(version, cluster)
        self._fill_subnet_ids(cluster)
        if item.server is not None and is_oke(cluster):
            self._refresh_oke_token(cluster, item)
        if item.failed or time.monotonic() < item.next_at:
            return
        fail = (meta.get("annotations") or {}).get(FAIL_ANNOTATION)
        if fail and item.step >= 0:
            self._fail(version, cluster, item, fail)
            return
        if item.step + 1 >= len(STEPS):
            return
        item.step += 1
        item.next_at = time.monotonic() + self.step_seconds
        phase, true_conditions, initialization = STEPS[item.step]
        oke = is_oke(cluster)
        if "ControlPlaneInitialized" in true_conditions and item.server is None:
            self._provision_workload(version, cluster, item)
            cluster = self.hub.get(f"{GROUP}/{version}", "Cluster", item.name, item.namespace) or cluster
        if oke:
            self._write_oke_status(cluster, item, true_conditions)
        self._write_status(version, cluster, phase, true_conditions, initialization,
                           reasons=_OKE_REASONS if oke else None)

    # --- steps --------------------------------------------------------------------------------
    def _fill_subnet_ids(self, cluster: dict[str, Any]) -> None:
        """As CAPOCI's subnet reconciler does for a VCN it manages: write an OCID into every subnet of
        the Cluster's OCICluster (spec.networkSpec.vcn.subnets[].id)."""
        ref = (cluster.get("spec") or {}).get("infrastructureRef") or {}
        api_version = "infrastructure.cluster.x-k8s.io/v1beta2"
        if ref.get("kind") != "OCICluster" or not self.hub.serves(api_version, "OCICluster"):
            return
        infra = self.hub.get(api_version, "OCICluster", ref["name"], cluster["metadata"].get("namespace", "default"))
        net = ((infra or {}).get("spec") or {}).get("networkSpec") or {}
        subnets = (net.get("vcn") or {}).get("subnets") or []
        if infra is None or net.get("skipNetworkManagement") or all(s.get("id") for s in subnets):
            return
        infra = json.loads(json.dumps(infra))
        for subnet in infra["spec"]["networkSpec"]["vcn"]["subnets"]:
            subnet.setdefault("id", f"ocid1.subnet.oc1..sim-{infra['metadata']['name']}-{subnet['role']}")
        self.hub.update(infra)

    def _add_finalizer(self, version: str, cluster: dict[str, Any]) -> dict[str, Any]:
        cluster = json.loads(json.dumps(cluster))
        cluster["metadata"].setdefault("finalizers", []).append(FINALIZER)
        return self.hub.update(cluster)

    def _provision_workload(self, version: str, cluster: dict[str, Any], item: _Tracked) -> None:
        item.server = self.server_factory(f"{item.namespace}-{item.name}")
        host, port = item.server.url.split("://", 1)[1].rsplit(":", 1)
        updated = json.loads(json.dumps(cluster))
        updated.setdefault("spec", {})["controlPlaneEndpoint"] = {"host": host, "port": int(port)}
        self.hub.update(updated)
        if is_oke(cluster):
            self._refresh_oke_token(updated, item)
            log.info("cluster %s/%s (OKE): workload API at %s", item.namespace, item.name, item.server.url)
            return
        kubeconfig = item.server.kubeconfig_dict(client_cert=True, context=f"{item.name}-admin@{item.name}")
        secret = {
            "apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
            "metadata": {"name": f"{item.name}-kubeconfig", "namespace": item.namespace,
                         "labels": {"cluster.x-k8s.io/cluster-name": item.name},
                         "ownerReferences": [{"apiVersion": f"{GROUP}/{version}", "kind": "Cluster",
                                              "name": item.name, "uid": cluster["metadata"]["uid"],
                                              "controller": True}]},
            "data": {"value": base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()},
        }
        if self.hub.get("v1", "Secret", secret["metadata"]["name"], item.namespace) is None:
            self.hub.create(secret)
        log.info("cluster %s/%s: workload API at %s", item.namespace, item.name, item.server.url)

    def _write_status(self, version: str, cluster: dict[str, Any], phase: str, true_conditions: frozenset[str],
                      initialization: dict[str, bool], *,
                      reasons: dict[str, tuple[str, str, str]] | None = None) -> None:
        old = {c["type"]: c for c in (cluster.get("status") or {}).get("conditions") or []}
        conditions = []
        for ctype in CONDITION_TYPES:
            status = "True" if ctype in true_conditions else "False"
            if reasons is not None:
                true_reason, false_reason, false_message = reasons[ctype]
                reason, message = (true_reason, "") if status == "True" else (false_reason, false_message)
            else:
                reason, message = ("Ready", "") if status == "True" else _WAITING_REASONS[ctype]
            previous = old.get(ctype)
            changed = previous is None or previous.get("status") != status
            conditions.append({"type": ctype, "status": status, "reason": reason, "message": message,
                               "observedGeneration": cluster["metadata"].get("generation", 1),
                               "lastTransitionTime": _now() if changed else previous["lastTransitionTime"]})
        status = {"phase": phase, "initialization": dict(initialization), "conditions": conditions,
                  "observedGeneration": cluster["metadata"].get("generation", 1)}
        self.hub.patch_status(f"{GROUP}/{version}", "Cluster", cluster["metadata"]["name"],
                              cluster["metadata"].get("namespace", "default"), status)

    # --- OKE (CAPOCI's managed kinds) ------------------------------------------------------------
    def _oke_object(self, cluster: dict[str, Any], ref_field: str, kind: str) -> dict[str, Any] | None:
        ref = (cluster.get("spec") or {}).get(ref_field) or {}
        if ref.get("kind") != kind:
            return None
        return self.hub.get(INFRA, kind, ref.get("name") or cluster["metadata"]["name"], cluster["metadata"].get(
            "namespace", "default"))

    def _write_oke_status(self, cluster: dict[str, Any], item: _Tracked, true_conditions: frozenset[str]) -> None:
        """OCIManagedCluster and OCIManagedControlPlane as CAPOCI v0.24.0 reports them
        (controllers/ocimanagedcluster_controller.go, controllers/ocimanagedcluster_controlplane_controller.go)."""
        infra_ready = "InfrastructureReady" in true_conditions
        cp_ready = "ControlPlaneInitialized" in true_conditions
        endpoint = (cluster.get("spec") or {}).get("controlPlaneEndpoint") if cp_ready else None
        infra = self._oke_object(cluster, "infrastructureRef", OKE_INFRA_KIND)
        if infra is not None:  # no condition until the network is reconciled; then ClusterReady and its summary
            ready = _v1beta1_condition("ClusterReady", True, "")
            conditions = [{**ready, "type": "Ready"}, ready] if infra_ready else []
            self._patch_oke(infra, {"ready": infra_ready, "conditions": conditions}, endpoint)
        control_plane = self._oke_object(cluster, "controlPlaneRef", OKE_CONTROL_PLANE_KIND)
        if control_plane is not None:
            status: dict[str, Any] = {
                "ready": cp_ready, "initialized": cp_ready,
                "conditions": [_v1beta1_condition("ControlPlaneReady", cp_ready, "ControlPlaneNotReady")]}
            if cp_ready:
                status["version"] = (control_plane.get("spec") or {}).get("version")
            self._patch_oke(control_plane, status, endpoint)

    def _patch_oke(self, obj: dict[str, Any], status: dict[str, Any], endpoint: dict[str, Any] | None) -> None:
        meta = obj["metadata"]
        if endpoint and (obj.get("spec") or {}).get("controlPlaneEndpoint") != endpoint:
            updated = json.loads(json.dumps(obj))
            updated.setdefault("spec", {})["controlPlaneEndpoint"] = endpoint
            obj = self.hub.update(updated)
        old = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
        for condition in status["conditions"]:
            previous = old.get(condition["type"])
            if previous is not None and previous.get("status") == condition["status"]:
                condition["lastTransitionTime"] = previous.get("lastTransitionTime", condition["lastTransitionTime"])
        self.hub.patch_status(INFRA, obj["kind"], meta["name"], meta.get("namespace"),
                              {**(obj.get("status") or {}), **status})

    def _refresh_oke_token(self, cluster: dict[str, Any], item: _Tracked) -> None:
        """Keep one accepted token in the kubeconfig Secret: a new one at half the life of the current, as
        CAPOCI's reconcile rewrites the token (cloud/scope/managed_control_plane.go, updateCAPIKubeconfigSecret);
        the workload API stops accepting each token when its life is over."""
        now = time.monotonic()
        tokens: list[tuple[str, float]] = item.extra.setdefault("oke_tokens", [])
        for name, issued in [t for t in tokens if now - t[1] >= self.oke_token_seconds]:
            item.server.delete("v1", "Secret", name, "kube-system")
            tokens.remove((name, issued))
        secret_name = f"{item.name}-kubeconfig"
        live = self.hub.get("v1", "Secret", secret_name, item.namespace)
        if live is not None and tokens and now - tokens[-1][1] < self.oke_token_seconds / 2:
            return
        token = _presigned_token(item.name)
        name = f"oke-kubeconfig-token-{secrets.token_hex(4)}"
        item.server.create({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": name, "namespace": "kube-system", "labels": {OKE_TOKEN_LABEL: item.name}},
            "data": {"token": base64.b64encode(token.encode()).decode()}})
        tokens.append((name, now))
        kubeconfig = _oke_kubeconfig(item.name, item.server, token)
        value = base64.b64encode(yaml.safe_dump(kubeconfig, sort_keys=False).encode()).decode()
        if live is not None:
            live["data"] = {**(live.get("data") or {}), "value": value}
            self.hub.update(live)
            return
        control_plane = self._oke_object(cluster, "controlPlaneRef", OKE_CONTROL_PLANE_KIND)
        owner = ({"apiVersion": INFRA, "kind": OKE_CONTROL_PLANE_KIND, "name": control_plane["metadata"]["name"],
                  "uid": control_plane["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
                 if control_plane is not None else
                 {"apiVersion": cluster["apiVersion"], "kind": "Cluster", "name": item.name,
                  "uid": cluster["metadata"]["uid"], "controller": True})
        self.hub.create({
            "apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
            "metadata": {"name": secret_name, "namespace": item.namespace,
                         "labels": {"cluster.x-k8s.io/cluster-name": item.name}, "ownerReferences": [owner]},
            "data": {"value": value}})

    def _fail(self, version: str, cluster: dict[str, Any], item: _Tracked, message: str) -> None:
        item.failed = True
        conditions = [{"type": ctype, "status": "False", "lastTransitionTime": _now(),
                       "reason": "OCIClusterProvisioningFailed" if ctype == "InfrastructureReady"
                       else _WAITING_REASONS[ctype][0],
                       "message": message if ctype == "InfrastructureReady" else _WAITING_REASONS[ctype][1]}
                      for ctype in CONDITION_TYPES]
        self.hub.patch_status(f"{GROUP}/{version}", "Cluster", item.name, item.namespace,
                              {"phase": "Failed", "conditions": conditions,
                               "initialization": {"infrastructureProvisioned": False,
                                                  "controlPlaneInitialized": False}})
        log.info("cluster %s/%s failed: %s", item.namespace, item.name, message)

    def _delete(self, version: str, cluster: dict[str, Any], item: _Tracked) -> None:
        if (cluster.get("status") or {}).get("phase") != "Deleting":
            self.hub.patch_status(f"{GROUP}/{version}", "Cluster", item.name, item.namespace,
                                  {**(cluster.get("status") or {}), "phase": "Deleting"})
            item.next_at = time.monotonic() + self.step_seconds
            return
        if time.monotonic() < item.next_at:
            return
        self._forget(item)
        self.hub.delete("v1", "Secret", f"{item.name}-kubeconfig", item.namespace)
        latest = self.hub.get(f"{GROUP}/{version}", "Cluster", item.name, item.namespace)
        if latest is not None:
            latest["metadata"]["finalizers"] = [f for f in latest["metadata"].get("finalizers") or []
                                                if f != FINALIZER]
            self.hub.update(latest)

    def _forget(self, item: _Tracked) -> None:
        if item.server is not None:
            item.server.stop()
            item.server = None
            log.info("cluster %s/%s: workload API stopped", item.namespace, item.name)


def _v1beta1_condition(ctype: str, true: bool, reason: str) -> dict[str, Any]:
    """A condition of CAPI's v1beta1 shape (what CAPOCI's v1beta1conditions.MarkTrue / MarkFalse write)."""
    if true:
        return {"type": ctype, "status": "True", "lastTransitionTime": _now()}
    return {"type": ctype, "status": "False", "severity": "Info", "reason": reason, "lastTransitionTime": _now()}


def _presigned_token(cluster: str) -> str:
    """A stand-in for CAPOCI's token: base64url of a dated, signed containerengine cluster_request URL
    (oracle/cluster-api-provider-oci @ v0.24.0 : cloud/services/base/BaseClient.go, GenerateToken)."""
    date = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    url = (f"https://containerengine.sandbox.invalid/cluster_request/ocid1.cluster.oc1.sandbox.{cluster}"
           f"?authorization=Signature+keyId%3Dsandbox%2Csignature%3D{secrets.token_urlsafe(24)}"
           f"&date={date.replace(' ', '+').replace(',', '%2C').replace(':', '%3A')}")
    return base64.urlsafe_b64encode(url.encode()).decode()


def _oke_kubeconfig(cluster: str, server: Any, token: str) -> dict[str, Any]:
    """The kubeconfig CAPOCI writes for an OKE cluster (oracle/cluster-api-provider-oci @ v0.24.0 :
    cloud/scope/managed_control_plane.go, createCAPIKubeconfigSecret): OKE's cluster entry and context, and one
    user ``<cluster>-capi-admin`` with a bearer token (no client certificate)."""
    short = cluster.replace("-", "")[:11]
    user = f"{cluster}-capi-admin"
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": f"context-{short}",
        "clusters": [{"name": f"cluster-{short}", "cluster": {
            "server": server.url, "certificate-authority-data": base64.b64encode(server.ca_pem).decode()}}],
        "contexts": [{"name": f"context-{short}", "context": {"cluster": f"cluster-{short}", "user": user}}],
        "users": [{"name": user, "user": {"token": token}}],
    }
