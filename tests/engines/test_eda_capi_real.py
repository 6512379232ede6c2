"""The Event-Driven Ansible source multicluster.gitops.capi_clusters against real Cluster API.

The four Cluster API v1.12.5 managers (core, kubeadm bootstrap, kubeadm control plane, CAPD with its in-memory
backend: fixture ``real_capi``) reconcile on a real kube-apiserver (``real_hub``); the conditions, the
``<name>-kubeconfig`` Secret and the deletion with finalizers are theirs, nothing is written on their behalf. The
clusters are the in-memory kind of roles/capi_workloads/templates/cluster_objects_in_memory.yml.j2, created as
tests/engines/test_capi_inmemory.py does (``CapiHub.cluster``).

The source is loaded and run in-process as ansible-rulebook runs it (``runpy.run_path`` of the plugin file, then
``await main(queue, args)``, as tests/integration/test_eda_capi_clusters.py does against the emulated hub).
Upstream: ansible/ansible-rulebook @ v1.3.2 : ansible_rulebook/engine.py (start_source).

Skipped with the reason when `python -m realengines build kube capi` has not run (failed instead with
MCG_ENGINES_REQUIRED). Wall time on a 2-core machine shared with other jobs: see docs/registration.md (Tests).
"""
from __future__ import annotations

import asyncio
import base64
import json
import runpy
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pytest

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_cluster import secret_name
from realengines.pytest_plugin import require_real_engines
from tests.engines.test_capi_inmemory import B2, CapiHub, wait_until
from tests.helpers.ansible import ROOT, Result, run_playbook

pytestmark = pytest.mark.engines

PLUGIN = ROOT / "extensions" / "eda" / "plugins" / "event_source" / "capi_clusters.py"
CREDENTIAL_MODE_LABEL = "multicluster.gitops/credential-mode"
# The simulated etcd of the first control-plane machine takes this long to start, so the control plane is
# initialized well after KCP wrote the kubeconfig Secret (the window the first test looks into).
SLOW_ETCD = {"startupDuration": "10s", "startupJitter": "0"}
BATCH_WINDOW = 0.3
# How long Cluster API may take to provision or delete a cluster, and the source to report what the hub shows
# (a bound on liveness on a loaded machine, not a speed target).
PROVISION_TIMEOUT = 300.0
EVENT_TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def _capi_built() -> None:
    """Skip with the reason where Cluster API is not built (fail with MCG_ENGINES_REQUIRED); the session fixture
    ``real_capi`` makes the same check before it starts anything."""
    require_real_engines("capi")


class Source:
    """The event source running on the test's event loop against the real hub; ``raw`` holds every event it
    put on the queue, ``events`` their ``capi`` part."""

    def __init__(self, hub: CapiHub) -> None:
        self.args = {"kubeconfig": str(hub.server.kubeconfig_path), "namespace": hub.ns,
                     "batch_window": BATCH_WINDOW, "resync_period": 0}
        self.queue: asyncio.Queue = asyncio.Queue()
        self.raw: list[dict[str, Any]] = []
        self.task: asyncio.Task | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e["capi"] for e in self.raw]

    async def __aenter__(self) -> "Source":
        main = runpy.run_path(str(PLUGIN))["main"]
        self.task = asyncio.create_task(main(self.queue, dict(self.args)))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.task is not None
        if self.task.done():
            self.task.result()  # a crash of the source fails the test with its traceback
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass

    async def _next(self, wait: float) -> None:
        assert self.task is not None
        if self.task.done():
            raise AssertionError(f"the event source stopped: {self.task.exception()!r}")
        try:
            self.raw.append(await asyncio.wait_for(self.queue.get(), wait))
        except asyncio.TimeoutError:
            pass

    async def until(self, what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Collect events until ``probe()`` (run in a thread: it may ask the hub) returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = await asyncio.to_thread(probe)
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{what}: not reached within {timeout:.0f}s; events: "
                                     f"{json.dumps(self.events)[:3000]}")
            await self._next(min(remaining, 0.5))

    async def pump(self, seconds: float) -> None:
        """Collect events for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            await self._next(min(remaining, 0.5))

    def of_type(self, etype: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == etype]

    def changes(self, kind: str) -> list[dict[str, Any]]:
        """Every cluster entry of ``kind`` (cluster_ready, ...) in the ``changes`` events so far."""
        return [c for e in self.of_type("changes") for c in e[kind]]


def initialized(hub: CapiHub, name: str) -> dict[str, Any] | None:
    """The Cluster's ControlPlaneInitialized condition when it is True, else None."""
    cond = hub.condition(name, "ControlPlaneInitialized")
    return cond if cond and cond["status"] == "True" else None


def _time(stamp: str) -> datetime:
    return datetime.strptime(stamp.replace("Z", "+0000"),
                             "%Y-%m-%dT%H:%M:%S.%f%z" if "." in stamp else "%Y-%m-%dT%H:%M:%S%z")


def _pem_lines(data: str) -> list[str]:
    """The body lines of the PEM blocks in base64 ``data`` (a key or certificate as a kubeconfig carries it)."""
    return [line for line in base64.b64decode(data).decode().splitlines() if line and not line.startswith("-----")]


def credentials_of(hub: CapiHub, name: str) -> list[str]:
    """What must never show in an event: the kubeconfig Secret's value, its CA, client certificate and key (whole
    and line by line), and the hub's own admin token and client key."""
    secret = hub.get("v1", "secrets", f"{name}-kubeconfig")
    assert secret is not None
    kubeconfig = hub.kubeconfig(name)
    cluster, user = kubeconfig["clusters"][0]["cluster"], kubeconfig["users"][0]["user"]
    values = [secret["data"]["value"], cluster["certificate-authority-data"], user["client-certificate-data"],
              user["client-key-data"], hub.server.admin_token]
    for data in (cluster["certificate-authority-data"], user["client-certificate-data"], user["client-key-data"]):
        values.extend(_pem_lines(data))
    values.extend(line for line in hub.server.admin_client_cert.key.read_text().splitlines()
                  if line and not line.startswith("-----"))
    return values


def _cleanup(hub: CapiHub, name: str) -> None:
    """Delete a test's Cluster without waiting (Cluster API removes the rest)."""
    hub.server.request("DELETE", hub.path(B2, "clusters", name))


# --- cluster_ready ---------------------------------------------------------------------------------------
def test_real_cluster_turning_ready_is_one_cluster_ready_event_without_credentials(real_capi: Any) -> None:
    """A real in-memory cluster provisioned by Cluster API is reported once as ``cluster_ready``, naming it, only
    after its control plane is initialized: KCP writes ``<name>-kubeconfig`` as soon as the endpoint is known, before
    the first machine exists, so the Secret alone must not make it ready. No credential of the kubeconfig Secret
    or of the hub shows in any event, and the status churn of the controllers until the cluster is Available makes
    no other event.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : controlplane/kubeadm/internal/controllers/controller.go
    (reconcile: reconcileKubeconfig before initializeControlPlane), controlplane/kubeadm/internal/controllers/
    helpers.go (reconcileKubeconfig), util/kubeconfig/kubeconfig.go (GenerateSecretWithOwner: <cluster>-kubeconfig,
    label cluster.x-k8s.io/cluster-name, key value), controlplane/kubeadm/internal/controllers/status.go
    (status.initialization.controlPlaneInitialized once the workload cluster has its kubeadm-config),
    internal/controllers/cluster/cluster_controller_status.go (setControlPlaneInitializedCondition; setPhase:
    Provisioned once the infrastructure is provisioned and the endpoint set),
    api/core/v1beta2/cluster_types.go (ClusterControlPlaneInitializedCondition),
    test/infrastructure/docker/internal/controllers/backends/inmemory/inmemorymachine_backend.go (etcd, API server,
    then kubeadm-config, each after its startupDuration)."""
    hub = CapiHub(real_capi)
    name = "eda-ready"
    labels = {"env": "dev", CREDENTIAL_MODE_LABEL: "kubeconfig"}

    async def scenario() -> Source:
        async with Source(hub) as src:
            start = await src.until("the start-up resync", lambda: src.of_type("resync"))
            assert start[0]["clusters"] == [], start
            hub.cluster(name, labels=labels, provisioning={"etcd": SLOW_ETCD})

            await src.until(f"Secret {name}-kubeconfig written by KCP",
                            lambda: hub.get("v1", "secrets", f"{name}-kubeconfig"), timeout=PROVISION_TIMEOUT)
            assert not initialized(hub, name), "premise: KCP writes the kubeconfig before the control plane is up"
            await src.pump(10 * BATCH_WINDOW)
            assert not initialized(hub, name), "premise: the etcd start-up (10 s) outlasts the 3 s looked at"
            assert src.changes("cluster_ready") == [], "ready on the kubeconfig Secret alone"

            await src.until(f"Cluster {name} ControlPlaneInitialized=True", lambda: initialized(hub, name),
                            timeout=PROVISION_TIMEOUT)
            ready = await src.until("cluster_ready", lambda: src.changes("cluster_ready"), timeout=EVENT_TIMEOUT)
            cond = initialized(hub, name)
            assert cond is not None
            event = next(e for e in src.of_type("changes") if e["cluster_ready"])
            assert _time(event["time"]) >= _time(cond["lastTransitionTime"]), (event["time"], cond)
            assert event["hub"] == hub.server.url and event["counts"]["cluster_ready"] == 1
            (entry,) = ready
            # Provisioned: KCP writes the kubeconfig only once the infrastructure is provisioned and the endpoint set.
            assert entry == {"name": name, "namespace": hub.ns, "state": "ready", "phase": "Provisioned",
                             "reason": None, "oke": False, "credential_mode": "kubeconfig",
                             "kubeconfig_secret": f"{name}-kubeconfig", "labels": entry["labels"]}, entry
            assert {k: entry["labels"].get(k) for k in labels} == labels

            await src.until(f"Cluster {name} Available=True",
                            lambda: (hub.condition(name, "Available") or {}).get("status") == "True",
                            timeout=PROVISION_TIMEOUT)
            await src.pump(3 * BATCH_WINDOW)
        return src

    try:
        src = asyncio.run(scenario())
        assert [c["name"] for c in src.changes("cluster_ready")] == [name]
        for kind in ("kubeconfig_rotated", "cluster_failed", "cluster_deleted"):
            assert src.changes(kind) == [], f"{kind} from the controllers' status updates: {src.changes(kind)}"
        text = json.dumps(src.raw)
        leaked = [i for i, value in enumerate(credentials_of(hub, name)) if value in text]
        assert leaked == [], f"credential values #{leaked} appear in the events"
    finally:
        _cleanup(hub, name)


# --- cluster_deleted -------------------------------------------------------------------------------------
def test_real_deletion_is_one_cluster_deleted_event_through_the_finalizers(real_capi: Any) -> None:
    """Deleting a ready real cluster is reported once as ``cluster_deleted``: when ``deletionTimestamp`` is set
    while the finalizer ``cluster.cluster.x-k8s.io`` keeps the Cluster (state ``deleting``; Argo CD stops targeting
    it), and not again while Cluster API tears the control plane and the infrastructure down, garbage-collects the
    kubeconfig Secret and finally releases the finalizer.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : api/core/v1beta2/cluster_types.go (ClusterFinalizer),
    internal/controllers/cluster/cluster_controller.go (reconcileDelete: descendants, control plane and
    infrastructure first, then the finalizer), controlplane/kubeadm/internal/controllers/helpers.go
    (the kubeconfig Secret is owned by the KubeadmControlPlane, so it goes with it)."""
    hub = CapiHub(real_capi)
    name = "eda-del"
    hub.cluster(name)
    wait_until(f"Cluster {name} ControlPlaneInitialized=True", lambda: initialized(hub, name), PROVISION_TIMEOUT)
    wait_until(f"Secret {name}-kubeconfig", lambda: hub.get("v1", "secrets", f"{name}-kubeconfig"))

    async def scenario() -> Source:
        async with Source(hub) as src:
            start = await src.until("the start-up resync", lambda: src.of_type("resync"))
            assert [(c["name"], c["state"]) for c in start[0]["clusters"]] == [(name, "ready")], start
            status, body = hub.server.request("DELETE", hub.path(B2, "clusters", name))
            assert status in (200, 202), body
            deleted = await src.until("cluster_deleted", lambda: src.changes("cluster_deleted"), timeout=EVENT_TIMEOUT)
            assert [(c["name"], c["state"]) for c in deleted] == [(name, "deleting")], deleted
            await src.until(f"Cluster {name} gone (finalizer released)", lambda: hub.get(B2, "clusters", name) is None,
                            timeout=PROVISION_TIMEOUT)
            await src.until(f"Secret {name}-kubeconfig garbage-collected",
                            lambda: hub.get("v1", "secrets", f"{name}-kubeconfig") is None, timeout=120)
            await src.pump(5 * BATCH_WINDOW)
        return src

    src = asyncio.run(scenario())
    assert [c["name"] for c in src.changes("cluster_deleted")] == [name], src.changes("cluster_deleted")
    for kind in ("cluster_ready", "kubeconfig_rotated", "cluster_failed"):
        assert src.changes(kind) == [], f"{kind} during the deletion: {src.changes(kind)}"


# --- playbooks/register.yml ------------------------------------------------------------------------------
def _register(tmp_path: Path, hub: CapiHub, event: dict[str, Any], argocd_ns: str) -> Result:
    """playbooks/register.yml with the event as ansible-rulebook's run_playbook passes it (ansible_eda.event)."""
    result = run_playbook(tmp_path, "playbooks/register.yml", kubeconfig=hub.server.kubeconfig_path,
                          extra_vars={"ansible_eda": {"event": event}},
                          hostvars={"mcg_eda_kyverno_registration": False, "mcg_eda_argocd_namespace": argocd_ns},
                          timeout=300)
    assert result.rc == 0, result.stdout[-4000:]
    return result


def test_register_playbook_follows_the_real_cluster(real_capi: Any, tmp_path: Path) -> None:
    """The events of a real cluster given to playbooks/register.yml: ``cluster_ready`` writes the Argo CD cluster
    Secret on the real hub with the server and client certificate of the kubeconfig KCP wrote, ``cluster_deleted``
    removes it.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : util/kubeconfig/kubeconfig.go (New: one cluster, one user
    with client-certificate-data/client-key-data); ansible/ansible-rulebook @ v1.3.2 :
    ansible_rulebook/action/helper.py (collect_extra_vars: the event reaches the playbook as ansible_eda.event)."""
    hub = CapiHub(real_capi)
    name = "eda-reg"
    argocd_ns = f"argocd-{hub.ns}"
    assert hub.server.request("POST", "/api/v1/namespaces", {"metadata": {"name": argocd_ns}})[0] == 201
    argocd_path = f"/api/v1/namespaces/{argocd_ns}/secrets/{secret_name(hub.ns, name)}"

    def argocd_secret() -> dict[str, Any] | None:
        status, body = hub.server.request("GET", argocd_path)
        assert status in (200, 404), body
        return body if status == 200 else None

    def event_with(src: Source, kind: str) -> dict[str, Any] | None:
        return next((e for e in src.raw if e["capi"]["type"] == "changes"
                     and any(c["name"] == name for c in e["capi"][kind])), None)

    async def scenario() -> None:
        async with Source(hub) as src:
            await src.until("the start-up resync", lambda: src.of_type("resync"))
            hub.cluster(name, labels={"env": "dev"})
            await src.until(f"Cluster {name} ControlPlaneInitialized=True", lambda: initialized(hub, name),
                            timeout=PROVISION_TIMEOUT)
            ready = await src.until("cluster_ready", lambda: event_with(src, "cluster_ready"), timeout=EVENT_TIMEOUT)
            result = await asyncio.to_thread(_register, tmp_path / "ready", hub, ready, argocd_ns)
            assert result.changed() == 1, result.stdout[-4000:]
            secret = argocd_secret()
            assert secret is not None, "no Argo CD cluster Secret after cluster_ready"
            data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
            kubeconfig = hub.kubeconfig(name)
            assert data["server"] == kubeconfig["clusters"][0]["cluster"]["server"]
            assert data["server"].startswith("https://127.0.0.1:")
            config = json.loads(data["config"])
            assert config["tlsClientConfig"]["certData"] == kubeconfig["users"][0]["user"]["client-certificate-data"]
            assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster"
            assert secret["metadata"]["labels"].get("env") == "dev"

            assert hub.server.request("DELETE", hub.path(B2, "clusters", name))[0] in (200, 202)
            deleted = await src.until("cluster_deleted", lambda: event_with(src, "cluster_deleted"),
                                      timeout=EVENT_TIMEOUT)
            result = await asyncio.to_thread(_register, tmp_path / "deleted", hub, deleted, argocd_ns)
            assert result.changed() == 1, result.stdout[-4000:]
            assert argocd_secret() is None, "the Argo CD cluster Secret outlived cluster_deleted"

    asyncio.run(scenario())
