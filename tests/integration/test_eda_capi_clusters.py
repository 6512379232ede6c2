"""The Event-Driven Ansible source multicluster.gitops.capi_clusters, in-process on an asyncio.Queue, against the
emulated hub (the test or the simulated CAPI controller acting as Cluster API).

The plugin is loaded as ansible-rulebook loads it: ``runpy.run_path`` of the file, then ``await main(queue, args)``
(Upstream: ansible/ansible-rulebook @ v1.3.2 : ansible_rulebook/engine.py, start_source).
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import runpy
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from tests.conftest import CRD_DIR, skip_module_without_capi_crd
from tests.helpers.faults import FaultProxy, window_plan

pytestmark = pytest.mark.integration

kubemu = pytest.importorskip("kubemu", reason="the emulated Kubernetes API (kubemu) is not available")
skip_module_without_capi_crd()

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "extensions" / "eda" / "plugins" / "event_source" / "capi_clusters.py"
B2 = "cluster.x-k8s.io/v1beta2"
T0 = "2026-01-01T00:00:00Z"


def load_plugin() -> dict[str, Any]:
    return runpy.run_path(str(PLUGIN))


def c2(ctype: str, status: str = "True", reason: str = "Ready", message: str = "") -> dict[str, Any]:
    return {"type": ctype, "status": status, "reason": reason, "message": message, "lastTransitionTime": T0}


PENDING = {"phase": "Pending", "conditions": [c2("InfrastructureReady", "False", "Provisioning", "creating")]}
# Cluster API v1.12 (v1beta2): the control plane is initialized once ControlPlaneInitialized is True.
INITIALIZED = {"phase": "Provisioned",
               "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True},
               "conditions": [c2("InfrastructureReady"), c2("ControlPlaneInitialized")]}
QUOTA = {"phase": "Failed", "conditions": [
    c2("InfrastructureReady", "False", "OCIClusterProvisioningFailed", "quota exceeded for VM.Standard.E4.Flex")]}
SECRET_MARK = "tOkEn-" + uuid.uuid4().hex


def kubeconfig_value(server: str = "https://w.example.test:6443", token: str = SECRET_MARK) -> str:
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "w",
              "clusters": [{"name": "w", "cluster": {"server": server, "certificate-authority-data": "Q0E="}}],
              "users": [{"name": "u", "user": {"token": token}}],
              "contexts": [{"name": "w", "context": {"cluster": "w", "user": "u"}}]}
    return base64.b64encode(yaml.safe_dump(config).encode()).decode()


class Hub:
    """A namespace of an emulated hub with the writes Cluster API would make."""

    def __init__(self, srv: Any) -> None:
        self.srv = srv
        self.ns = f"capi-{uuid.uuid4().hex[:6]}"
        self.kubeconfig_path: Path | None = None
        srv.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.ns}})

    def cluster(self, name: str, status: dict[str, Any] | None = None, **meta: Any) -> None:
        self.srv.create({"apiVersion": B2, "kind": "Cluster", "metadata": {"name": name, "namespace": self.ns, **meta},
                         "spec": {}})
        if status:
            self.status(name, status)

    def status(self, name: str, status: dict[str, Any]) -> None:
        self.srv.patch_status(B2, "Cluster", name, self.ns, status)

    def kubeconfig(self, name: str, value: str | None = None) -> None:
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                  "metadata": {"name": f"{name}-kubeconfig", "namespace": self.ns,
                               "labels": {"cluster.x-k8s.io/cluster-name": name}},
                  "data": {"value": value or kubeconfig_value()}}
        live = self.srv.get("v1", "Secret", secret["metadata"]["name"], self.ns)
        if live is None:
            self.srv.create(secret)
        else:
            live["data"] = secret["data"]
            self.srv.update(live)

    def ready(self, name: str) -> None:
        self.kubeconfig(name)
        self.status(name, INITIALIZED)


def _crd_dir(root: Path) -> Path:
    crd = yaml.safe_load((CRD_DIR / "cluster.x-k8s.io_clusters.yaml").read_text())
    root.mkdir(parents=True, exist_ok=True)
    (root / "clusters.yaml").write_text(json.dumps(crd))
    return root


@pytest.fixture(scope="module")
def crds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _crd_dir(tmp_path_factory.mktemp("crds"))


@pytest.fixture
def hub(kube_server_factory: Any, crds: Path, tmp_path: Path) -> Hub:
    made = Hub(kube_server_factory("eda-hub", crd_dir=crds))
    made.kubeconfig_path = made.srv.write_kubeconfig(tmp_path / "hub.kubeconfig")
    return made


class Running:
    """The source running on the test's event loop; ``events`` collects what it put on the queue."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.queue: asyncio.Queue = asyncio.Queue()
        self.events: list[dict[str, Any]] = []
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> "Running":
        main = load_plugin()["main"]
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

    async def until(self, predicate: Callable[[list[dict[str, Any]]], Any], timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self.events)
            if value:
                return value
            assert self.task is not None and not self.task.done(), self.task.result()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event within {timeout}s; got {json.dumps(self.events)[:3000]}")
            try:
                self.events.append((await asyncio.wait_for(self.queue.get(), min(remaining, 0.5)))["capi"])
            except asyncio.TimeoutError:
                pass


def names(events: list[dict[str, Any]], kind: str) -> list[str]:
    return [c["name"] for e in events if e["type"] == "changes" for c in e[kind]]


def args_for(hub: Hub, **extra: Any) -> dict[str, Any]:
    return {"kubeconfig": str(hub.kubeconfig_path),
            "namespace": hub.ns, "batch_window": 0.3, "resync_period": 0, **extra}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- the event kinds -------------------------------------------------------------------------------------
def test_ready_needs_initialized_control_plane_and_kubeconfig_secret(hub: Hub) -> None:
    """Ready = ControlPlaneInitialized and the kubeconfig Secret written; the source is loaded and awaited as
    ansible-rulebook does. Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : api/core/v1beta2/cluster_types.go
    (ClusterControlPlaneInitializedCondition, status.initialization.controlPlaneInitialized);
    ansible/ansible-rulebook @ v1.3.2 : ansible_rulebook/engine.py (start_source: runpy.run_path, await main)."""
    hub.cluster("prod-1", PENDING)

    async def scenario() -> None:
        async with Running(args_for(hub)) as src:
            start = await src.until(lambda ev: [e for e in ev if e["type"] == "resync"])
            assert [(c["name"], c["state"]) for c in start[0]["clusters"]] == [("prod-1", "pending")]
            hub.status("prod-1", INITIALIZED)  # no kubeconfig Secret yet: not ready
            await asyncio.sleep(1.0)
            assert names(src.events, "cluster_ready") == []
            hub.kubeconfig("prod-1")
            ready = await src.until(lambda ev: names(ev, "cluster_ready"))
            assert ready == ["prod-1"]
    run(scenario())


def test_deleted_rotated_and_failed(hub: Hub) -> None:
    """Deletion (deletionTimestamp, then gone), a rewritten kubeconfig, and a failure with its condition text.
    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : util/kubeconfig/kubeconfig.go (GenerateSecretWithOwner:
    <cluster>-kubeconfig, label cluster.x-k8s.io/cluster-name, the source's Secret selector);
    oracle/cluster-api-provider-oci @ v0.24.0 : cloud/scope/managed_control_plane.go (the OKE kubeconfig Secret, made by
    the same GenerateSecretWithOwner, rewritten with a new token)."""
    hub.cluster("a", INITIALIZED)
    hub.kubeconfig("a")
    hub.cluster("b", PENDING)

    async def scenario() -> None:
        async with Running(args_for(hub)) as src:
            await src.until(lambda ev: [e for e in ev if e["type"] == "resync"])
            hub.kubeconfig("a", kubeconfig_value(token="rotated-" + SECRET_MARK))
            assert await src.until(lambda ev: names(ev, "kubeconfig_rotated")) == ["a"]
            hub.status("b", QUOTA)
            failed = await src.until(lambda ev: [c for e in ev if e["type"] == "changes"
                                                 for c in e["cluster_failed"]])
            assert failed[0]["name"] == "b"
            assert "quota exceeded for VM.Standard.E4.Flex" in failed[0]["reason"]
            hub.srv.delete(B2, "Cluster", "a", hub.ns)
            assert await src.until(lambda ev: names(ev, "cluster_deleted")) == ["a"]
            assert names(src.events, "cluster_ready") == []  # a was ready at start: reported by the resync only
    run(scenario())


def test_malformed_kubeconfig_is_reported_failed_and_the_source_goes_on(hub: Hub) -> None:
    hub.cluster("broken", INITIALIZED)

    async def scenario() -> None:
        async with Running(args_for(hub)) as src:
            await src.until(lambda ev: [e for e in ev if e["type"] == "resync"])
            hub.kubeconfig("broken", base64.b64encode(b"clusters: [unterminated\n  key: " + SECRET_MARK.encode())
                           .decode())
            failed = await src.until(lambda ev: [c for e in ev if e["type"] == "changes"
                                                 for c in e["cluster_failed"]])
            assert failed[0]["name"] == "broken"
            assert f"kubeconfig Secret {hub.ns}/broken-kubeconfig" in failed[0]["reason"]
            assert SECRET_MARK not in json.dumps(src.events)
            hub.cluster("fine", INITIALIZED)
            hub.kubeconfig("fine")
            assert await src.until(lambda ev: names(ev, "cluster_ready")) == ["fine"]
    run(scenario())


def test_no_credential_in_any_event(hub: Hub) -> None:
    """Every event, of every kind, is free of the kubeconfig's token, CA and the hub's own credentials."""
    hub.cluster("c1", INITIALIZED)
    hub.kubeconfig("c1")
    hub.cluster("c2", PENDING)
    hub_kubeconfig = hub.srv.kubeconfig_dict()

    async def scenario() -> None:
        async with Running(args_for(hub, resync_period=0.5)) as src:
            await src.until(lambda ev: len([e for e in ev if e["type"] == "resync"]) >= 2)
            hub.ready("c2")
            hub.kubeconfig("c1", kubeconfig_value(token="second-" + SECRET_MARK))
            await src.until(lambda ev: names(ev, "kubeconfig_rotated") and names(ev, "cluster_ready"))
            hub.srv.delete(B2, "Cluster", "c2", hub.ns)
            await src.until(lambda ev: names(ev, "cluster_deleted"))
        text = json.dumps(src.events)
        assert SECRET_MARK not in text
        assert kubeconfig_value() not in text and "Q0E=" not in text
        assert hub_kubeconfig["users"][0]["user"]["token"] not in text
        assert hub.srv.ca_pem.decode().splitlines()[1] not in text
    run(scenario())


# --- batching ---------------------------------------------------------------------------------------------
def test_hundred_clusters_ready_within_a_second_are_a_handful_of_batches(hub: Hub) -> None:
    names_ = [f"fleet-{i:03d}" for i in range(100)]
    for n in names_:
        hub.cluster(n, PENDING)

    async def scenario() -> None:
        async with Running(args_for(hub, batch_window=1.0)) as src:
            await src.until(lambda ev: [e for e in ev if e["type"] == "resync"])
            hub.srv.reset_counters()
            started = time.monotonic()

            def controller() -> None:  # in a thread, so the source runs while the clusters turn ready
                for n in names_:
                    hub.ready(n)
            await asyncio.to_thread(controller)
            took = time.monotonic() - started
            ready = await src.until(lambda ev: len(names(ev, "cluster_ready")) == 100 and names(ev, "cluster_ready"),
                                    timeout=20)
            assert sorted(ready) == names_
            batches = [e for e in src.events if e["type"] == "changes"]
            assert len(batches) <= 3, [e["counts"] for e in batches]
            assert took < 1.5, f"writing took {took:.1f}s: the machine is too busy for this test's premise"
            # Watches only: no request per cluster.
            assert sum(hub.srv.requests.values()) <= 4, hub.srv.requests
    run(scenario())


# --- faults -----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def behind_proxy(kube_server_factory: Any, crds: Path, name: str, *, pending: str,
                 ready: str) -> Iterator[tuple[Any, Hub, FaultProxy, dict[str, Any]]]:
    """A plain-HTTP hub with cluster ``pending`` not ready yet and ``ready`` ready (with its kubeconfig), behind a
    FaultProxy; yields the server, the Hub, the proxy and the source's arguments (through the proxy)."""
    srv = kube_server_factory(name, crd_dir=crds, tls=False)
    hub = Hub(srv)
    hub.cluster(pending, PENDING)
    hub.cluster(ready, INITIALIZED)
    hub.kubeconfig(ready)
    proxy = FaultProxy(srv.url).start()
    try:
        yield srv, hub, proxy, {"host": proxy.url, "api_key": srv.admin_token, "namespace": hub.ns,
                                "batch_window": 0.3, "resync_period": 0}
    finally:
        proxy.stop()


def test_api_restart_with_410_on_resume_loses_no_event(kube_server_factory: Any, crds: Path) -> None:
    """The API is away (a restart) while a cluster becomes ready and another is deleted, and its watch history is
    compacted meanwhile: resuming from the held resourceVersion answers 410 Gone, the source re-lists (the
    collection's reflector, plugins/module_utils/_capi_wait.py) and reports both changes."""
    with behind_proxy(kube_server_factory, crds, "eda-410", pending="stays", ready="goes") as (srv, hub, proxy, args):
        async def scenario() -> None:
            async with Running(args) as src:
                await src.until(lambda ev: [e for e in ev if e["type"] == "resync"])
                proxy.plan = window_plan(("down",), time.monotonic(), 2.0)
                srv.drop_watches()
                await asyncio.sleep(0.3)
                hub.srv.delete(B2, "Cluster", "goes", hub.ns)
                hub.ready("stays")
                srv.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later", "namespace": hub.ns}})
                srv.compact()
                srv.reset_counters()
                await src.until(lambda ev: names(ev, "cluster_ready") and names(ev, "cluster_deleted"), timeout=20)
                assert names(src.events, "cluster_ready") == ["stays"]
                assert names(src.events, "cluster_deleted") == ["goes"]
            assert proxy.counts["down"] > 0, proxy.counts
        run(scenario())


def test_ten_second_outage_loses_no_event(kube_server_factory: Any, crds: Path) -> None:
    """The hub refuses every connection for 10 s while a cluster becomes ready and another is deleted; the
    watches come back (retried with back-off) and both changes are reported."""
    with behind_proxy(kube_server_factory, crds, "eda-outage", pending="up", ready="down") as (srv, hub, proxy, args):
        async def scenario() -> None:
            async with Running(args) as src:
                await src.until(lambda ev: [e for e in ev if e["type"] == "resync"])
                proxy.plan = window_plan(("down",), time.monotonic(), 10.0)
                srv.drop_watches()
                await asyncio.sleep(1.0)
                hub.ready("up")
                hub.srv.delete(B2, "Cluster", "down", hub.ns)
                await asyncio.sleep(1.0)
                assert names(src.events, "cluster_ready") == []  # still out
                await src.until(lambda ev: names(ev, "cluster_ready") and names(ev, "cluster_deleted"), timeout=30)
                assert names(src.events, "cluster_ready") == ["up"]
                assert names(src.events, "cluster_deleted") == ["down"]
            assert proxy.counts["down"] > 0, proxy.counts
        run(scenario())


def test_periodic_resync_lists_every_cluster(hub: Hub) -> None:
    hub.cluster("r1", INITIALIZED)
    hub.kubeconfig("r1")
    hub.cluster("r2", QUOTA)

    async def scenario() -> None:
        async with Running(args_for(hub, resync_period=0.5)) as src:
            resyncs = await src.until(lambda ev: [e for e in ev if e["type"] == "resync"][1:])
            states = {c["name"]: c["state"] for c in resyncs[0]["clusters"]}
            assert states == {"r1": "ready", "r2": "failed"}
            assert resyncs[0]["counts"] == {"ready": 1, "pending": 0, "failed": 1, "deleting": 0}
    run(scenario())


def test_unknown_option_is_refused_with_the_option_named() -> None:
    settings = load_plugin()["Settings"]
    with pytest.raises(ValueError, match="batch_windw"):
        settings.from_args({"batch_windw": 1})
