"""capi_cluster_wait: options, the wait loop over a scripted client, and the progress lines of the action plugin."""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Iterator

import pytest
import yaml

from ansible_collections.multicluster.gitops.plugins.action.capi_cluster_wait import changes, heartbeat_line
from ansible_collections.multicluster.gitops.plugins.doc_fragments import k8s_auth
from ansible_collections.multicluster.gitops.plugins.module_utils._capi import capi_cluster_resource
from ansible_collections.multicluster.gitops.plugins.module_utils._capi_wait import (
    ClusterFailed, WaitSpec, run, spec_from_params, wait_for_clusters,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import (
    ApiError, InvalidInput, ResourceTimeout,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import Resource
from ansible_collections.multicluster.gitops.plugins.modules import capi_cluster_wait as module

CLUSTERS = Resource("cluster.x-k8s.io", "v1beta2", "clusters", "Cluster")


def obj(name: str, status: dict[str, Any], ns: str = "capi", rv: str = "1") -> dict[str, Any]:
    return {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": rv}, "spec": {}, "status": status}


def secret(name: str, ns: str = "capi") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns, "resourceVersion": "1"}}


READY = {"phase": "Provisioned", "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True},
         "conditions": [{"type": t, "status": "True"} for t in
                        ("Available", "InfrastructureReady", "ControlPlaneInitialized", "ControlPlaneAvailable",
                         "WorkersAvailable")]}
PENDING = {"phase": "Pending", "conditions": [{"type": "InfrastructureReady", "status": "False", "reason": "NotReady"}]}


class ScriptedClient:
    """Lists return fixed items; watches stream what the test puts on a per-plural queue (None ends a stream)."""

    def __init__(self, clusters: list[dict[str, Any]], secrets: list[dict[str, Any]],
                 discovery: dict[str, Any] | None = None) -> None:
        self.items = {"clusters": clusters, "secrets": secrets}
        self.events: dict[str, queue.Queue] = {"clusters": queue.Queue(), "secrets": queue.Queue()}
        self.discovery = discovery or {"preferredVersion": {"groupVersion": "cluster.x-k8s.io/v1beta2",
                                                            "version": "v1beta2"}}
        self.calls: list[tuple[str, str, str | None]] = []
        self.host = "https://fake"
        self.lock = threading.Lock()

    def request(self, method: str, path: str, **_: Any) -> Any:
        self.calls.append((method, path, None))
        if self.discovery == 404:
            raise ApiError("GET: 404", status=404)
        return self.discovery

    def list(self, res: Resource, namespace: str | None = None, **_: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append(("LIST", res.plural, None))
            return {"metadata": {"resourceVersion": "10"}, "items": list(self.items[res.plural])}

    def watch(self, res: Resource, namespace: str | None = None, *, resource_version: str | None = None,
              timeout_seconds: int | None = None, **_: Any) -> Iterator[dict[str, Any]]:
        with self.lock:
            self.calls.append(("WATCH", res.plural, resource_version))
        q = self.events[res.plural]
        end = time.monotonic() + (timeout_seconds or 60)
        while time.monotonic() < end:
            try:
                ev = q.get(timeout=0.05)
            except queue.Empty:
                continue
            if ev is None:
                return
            if isinstance(ev, Exception):
                raise ev
            yield ev


def feed(client: ScriptedClient, *events: tuple[float, str, dict[str, Any] | None | Exception]) -> threading.Thread:
    def run_feed() -> None:
        for delay, plural, ev in events:
            time.sleep(delay)
            client.events[plural].put(ev)
    t = threading.Thread(target=run_feed, daemon=True)
    t.start()
    return t


def params(**kw: Any) -> dict[str, Any]:
    base = {"name": None, "namespace": None, "clusters": None, "label_selector": None, "wait_for": "available",
            "timeout": 10, "fail_fast": True, "session": None}
    base.update(kw)
    return base


# --- options -----------------------------------------------------------------------------------------
def test_argspec_declares_every_documented_option() -> None:
    doc = yaml.safe_load(module.DOCUMENTATION)
    shared = yaml.safe_load(k8s_auth.ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(module.argspec()) - set(shared) == set(doc["options"])
    assert doc["options"]["wait_for"]["default"] == module.argspec()["wait_for"]["default"] == "available"
    assert doc["options"]["wait_for"]["choices"] == module.argspec()["wait_for"]["choices"]


@pytest.mark.parametrize(("kw", "names", "scope"), [
    ({"name": "a"}, ["default/a"], "default"),
    ({"name": "a", "namespace": "capi"}, ["capi/a"], "capi"),
    ({"clusters": [{"name": "a", "namespace": None}, {"name": "b", "namespace": "x"}], "namespace": "capi"},
     ["capi/a", "x/b"], None),
    ({"label_selector": "env=prod"}, [], None),
    ({"label_selector": "env=prod", "namespace": "capi"}, [], "capi"),
])
def test_spec_from_params(kw: dict[str, Any], names: list[str], scope: str | None) -> None:
    spec = spec_from_params(params(**kw))
    assert spec.names == names
    assert spec.scope == scope


def test_duplicate_clusters_rejected() -> None:
    with pytest.raises(InvalidInput, match="twice"):
        spec_from_params(params(clusters=[{"name": "a", "namespace": None}, {"name": "a", "namespace": None}]))


def test_discovery_picks_preferred_version_and_explains_missing_capi() -> None:
    client = ScriptedClient([], [])
    assert capi_cluster_resource(client).api_version == "cluster.x-k8s.io/v1beta2"  # type: ignore[arg-type]
    client.discovery = 404  # type: ignore[assignment]
    with pytest.raises(InvalidInput, match="install Cluster API"):
        capi_cluster_resource(client)  # type: ignore[arg-type]


# --- the wait loop -----------------------------------------------------------------------------------
def test_ready_at_once_costs_discovery_and_two_lists() -> None:
    client = ScriptedClient([obj("a", READY)], [secret("a-kubeconfig")])
    result = run(client, params(name="a", namespace="capi"))  # type: ignore[arg-type]
    assert [c["state"] for c in result["clusters"]] == ["ready"]
    assert [c[0] for c in client.calls] == ["GET", "LIST", "LIST"]
    assert "session" not in result


def test_waits_for_watch_events_then_returns() -> None:
    client = ScriptedClient([obj("a", PENDING)], [])
    feed(client, (0.1, "clusters", {"type": "MODIFIED", "object": obj("a", READY, rv="11")}),
         (0.1, "secrets", {"type": "ADDED", "object": secret("a-kubeconfig")}))
    out = wait_for_clusters(client, WaitSpec(names=["capi/a"], timeout=5), resource=CLUSTERS)  # type: ignore[arg-type]
    assert out["done"] and out["clusters"][0]["kubeconfig_secret_found"]
    assert ("WATCH", "clusters", "10") in client.calls  # started from the LIST's resourceVersion


def test_ready_without_secret_keeps_waiting_until_timeout() -> None:
    client = ScriptedClient([obj("a", READY)], [secret("other-kubeconfig")])
    with pytest.raises(ResourceTimeout) as exc:
        wait_for_clusters(client, WaitSpec(names=["capi/a"], timeout=0.3), resource=CLUSTERS)  # type: ignore[arg-type]
    assert "a: phase Provisioned; kubeconfig Secret a-kubeconfig not found" in exc.value.msg
    assert exc.value.result["clusters"][0]["state"] == "waiting"


def test_failure_event_fails_fast_with_condition_text() -> None:
    client = ScriptedClient([obj("a", PENDING), obj("b", PENDING)], [])
    failed = {"phase": "Provisioning", "conditions": [
        {"type": "InfrastructureReady", "status": "False", "reason": "OCIClusterProvisioningFailed",
         "message": "quota exceeded for VM.Standard.E4.Flex"}]}
    feed(client, (0.1, "clusters", {"type": "MODIFIED", "object": obj("b", failed, rv="12")}))
    start = time.monotonic()
    with pytest.raises(ClusterFailed) as exc:
        wait_for_clusters(client, WaitSpec(names=["capi/a", "capi/b"], timeout=30),  # type: ignore[arg-type]
                          resource=CLUSTERS)
    assert time.monotonic() - start < 5
    assert ("b: phase Provisioning; InfrastructureReady=False (OCIClusterProvisioningFailed: quota exceeded for "
            "VM.Standard.E4.Flex)") in exc.value.msg
    assert {c["name"]: c["state"] for c in exc.value.result["clusters"]} == {"a": "waiting", "b": "failed"}


QUOTA = {"phase": "Failed", "conditions": [
    {"type": "InfrastructureReady", "status": "False", "reason": "OCIClusterProvisioningFailed",
     "message": "quota exceeded"}]}


def test_stop_on_failure_false_waits_for_the_others_and_lists_the_failed() -> None:
    """b fails first, a turns ready later: no exception, a is ready, b is named with its condition text."""
    client = ScriptedClient([obj("a", PENDING), obj("b", PENDING)], [])
    feed(client, (0.1, "clusters", {"type": "MODIFIED", "object": obj("b", QUOTA, rv="12")}),
         (0.2, "clusters", {"type": "MODIFIED", "object": obj("a", READY, rv="13")}),
         (0.0, "secrets", {"type": "ADDED", "object": secret("a-kubeconfig")}))
    result = run(client, params(clusters=[{"name": "a", "namespace": None}, {"name": "b", "namespace": None}],
                                namespace="capi", stop_on_failure=False, timeout=30))  # type: ignore[arg-type]
    assert {c["name"]: c["state"] for c in result["clusters"]} == {"a": "ready", "b": "failed"}
    assert result["ready_clusters"] == [{"name": "a", "namespace": "capi"}]
    assert result["failed_clusters"] == [{
        "name": "b", "namespace": "capi", "state": "failed",
        "message": "b: phase Failed; InfrastructureReady=False (OCIClusterProvisioningFailed: quota exceeded); "
                   "kubeconfig Secret b-kubeconfig not found"}]


def test_stop_on_failure_false_returns_at_the_timeout_naming_the_pending() -> None:
    client = ScriptedClient([obj("a", READY), obj("slow", PENDING)], [secret("a-kubeconfig")])
    result = run(client, params(clusters=[{"name": "a", "namespace": None}, {"name": "slow", "namespace": None}],
                                namespace="capi", stop_on_failure=False, timeout=1))  # type: ignore[arg-type]
    assert result["ready_clusters"] == [{"name": "a", "namespace": "capi"}]
    (slow,) = result["failed_clusters"]
    assert (slow["name"], slow["state"]) == ("slow", "waiting")
    assert slow["message"].startswith("slow: phase Pending; InfrastructureReady=False (NotReady)")
    assert slow["message"].endswith("(still waiting at the timeout)")


def test_stop_on_failure_true_still_raises() -> None:
    client = ScriptedClient([obj("a", PENDING), obj("b", QUOTA)], [])
    with pytest.raises(ClusterFailed) as exc:
        run(client, params(clusters=[{"name": "a", "namespace": None}, {"name": "b", "namespace": None}],
                           namespace="capi", stop_on_failure=True))  # type: ignore[arg-type]
    assert "b: phase Failed" in exc.value.msg


def test_deleted_during_wait() -> None:
    client = ScriptedClient([obj("a", PENDING)], [])
    feed(client, (0.1, "clusters", {"type": "DELETED", "object": obj("a", PENDING, rv="13")}))
    with pytest.raises(ClusterFailed, match="a: deleted during the wait"):
        wait_for_clusters(client, WaitSpec(names=["capi/a"], timeout=30), resource=CLUSTERS)  # type: ignore[arg-type]


def test_stream_end_resumes_and_watch_error_410_relists() -> None:
    client = ScriptedClient([obj("a", PENDING)], [secret("a-kubeconfig")])
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}
    feed(client, (0.1, "clusters", {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}}),
         (0.05, "clusters", None),  # stream closed by the server
         (0.1, "clusters", gone))

    def ready_on_relist() -> None:
        time.sleep(0.15)
        client.items["clusters"] = [obj("a", READY, rv="20")]
    threading.Thread(target=ready_on_relist, daemon=True).start()
    out = wait_for_clusters(client, WaitSpec(names=["capi/a"], timeout=5), resource=CLUSTERS)  # type: ignore[arg-type]
    assert out["done"]
    watches = [c[2] for c in client.calls if c[:2] == ("WATCH", "clusters")]
    assert watches[:2] == ["10", "15"]  # resumed from the bookmark's resourceVersion
    assert out["watch"]["clusters"]["relists"] == 1
    assert [c for c in client.calls if c[:2] == ("LIST", "clusters")].__len__() == 2


def test_check_mode_reports_without_waiting() -> None:
    client = ScriptedClient([obj("a", PENDING)], [])
    result = run(client, params(name="a", namespace="capi"), check_mode=True)  # type: ignore[arg-type]
    assert result["clusters"][0]["state"] == "waiting"
    assert not any(c[0] == "WATCH" for c in client.calls)


def test_progress_round_returns_on_change_and_resumes() -> None:
    client = ScriptedClient([obj("a", PENDING)], [])
    first = run(client, params(name="a", namespace="capi", session={}))  # type: ignore[arg-type]
    assert first["waiting"] and first["session"]["known"] == {"capi/a": first["session"]["known"]["capi/a"]}
    # Nothing changed since: the next round watches until something does.
    feed(client, (0.2, "clusters", {"type": "MODIFIED", "object": obj("a", {**PENDING, "phase": "Provisioning"})}))
    second = run(client, params(name="a", namespace="capi", session=first["session"]))  # type: ignore[arg-type]
    assert second["waiting"] and second["clusters"][0]["phase"] == "Provisioning"
    assert sum(1 for c in client.calls if c[0] == "GET") == 1  # discovery only in the first round


def test_a_quiet_round_returns_after_quiet_seconds_for_a_heartbeat() -> None:
    """Nothing changes: the round returns, still waiting, once quiet_seconds passed (not at the timeout)."""
    client = ScriptedClient([obj("a", PENDING)], [])
    first = run(client, params(name="a", namespace="capi", session={}))  # type: ignore[arg-type]
    started = time.monotonic()
    quiet = run(client, params(name="a", namespace="capi", timeout=30,  # type: ignore[arg-type]
                               session={**first["session"], "quiet_seconds": 0.3}))
    assert quiet["waiting"] and quiet["session"]["known"] == first["session"]["known"]
    assert 0.3 <= time.monotonic() - started < 20
    # Without quiet_seconds a round waits for a change (here: until the timeout).
    with pytest.raises(ResourceTimeout):
        run(client, params(name="a", namespace="capi", timeout=1, session=first["session"]))  # type: ignore[arg-type]


def test_label_selector_without_match_is_done() -> None:
    client = ScriptedClient([], [])
    out = run(client, params(label_selector="env=none"))  # type: ignore[arg-type]
    assert out["clusters"] == []


# --- progress lines ----------------------------------------------------------------------------------
def entry(**kw: Any) -> dict[str, Any]:
    base = {"name": "a", "namespace": "capi", "state": "waiting", "phase": "Pending", "conditions": [],
            "kubeconfig_secret": "a-kubeconfig", "kubeconfig_secret_found": False, "seconds_waited": 1.0}
    base.update(kw)
    return base


def test_changes_first_sight_and_transitions() -> None:
    infra_false = {"type": "InfrastructureReady", "status": "False", "reason": "NotReady", "message": "creating VCN"}
    assert changes(None, entry(conditions=[infra_false])) == [
        "phase Pending", "InfrastructureReady=False (NotReady: creating VCN)"]
    before = entry(conditions=[infra_false])
    after = entry(phase="Provisioned", state="ready", seconds_waited=42.4, kubeconfig_secret_found=True,
                  conditions=[{"type": "InfrastructureReady", "status": "True", "reason": "Ready"}])
    assert changes(before, after) == ["phase Pending -> Provisioned", "InfrastructureReady=True",
                                      "kubeconfig Secret a-kubeconfig present", "READY after 42s"]
    assert changes(after, after) == []
    assert changes(before, entry(state="deleted", phase=None)) == ["phase Pending -> absent", "DELETED during the wait"]


def test_heartbeat_line_counts_and_names_the_first_pending() -> None:
    clusters = [entry(name="r", state="ready", phase="Provisioned"), entry(name="f", state="failed", phase="Failed")]
    clusters += [entry(name=f"p{i}", phase="Provisioning") for i in range(7)]
    clusters += [entry(name="n", state="not_found", phase=None)]
    line = heartbeat_line(clusters, elapsed=95.4, timeout=600)
    assert line == ("still waiting after 1m35s: 1 of 10 Cluster(s) ready, 1 failed, 8 pending: p0 (Provisioning), "
                    "p1 (Provisioning), p2 (Provisioning), p3 (Provisioning), p4 (Provisioning) and 3 more; "
                    "timeout in 8m24s")
    assert heartbeat_line([entry()], elapsed=3, timeout=None) == (
        "still waiting after 3s: 0 of 1 Cluster(s) ready, 1 pending: a (Pending)")


# --- fleet scale: a wake-up evaluates what changed ----------------------------------------------------
@pytest.fixture
def interpreted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the Cluster objects interpreted, in order."""
    from ansible_collections.multicluster.gitops.plugins.module_utils import _capi_wait
    seen: list[str] = []
    real = _capi_wait.interpret

    def counting(obj: dict[str, Any], **kw: Any) -> Any:
        seen.append(obj["metadata"]["name"])
        return real(obj, **kw)
    monkeypatch.setattr(_capi_wait, "interpret", counting)
    return seen


def test_a_wake_up_evaluates_only_the_clusters_whose_objects_changed(interpreted: list[str]) -> None:
    """Cluster c never changes: evaluated once. An unrelated Secret wakes the wait but evaluates nothing; a
    kubeconfig Secret evaluates its own cluster only."""
    names = ["a", "b", "c"]
    client = ScriptedClient([obj(n, READY if n == "c" else PENDING) for n in names], [secret("c-kubeconfig")])
    feed(client, (0.1, "clusters", {"type": "MODIFIED", "object": obj("a", READY, rv="11")}),
         (0.1, "secrets", {"type": "ADDED", "object": secret("unrelated-tls")}),
         (0.1, "secrets", {"type": "ADDED", "object": secret("a-kubeconfig")}),
         (0.1, "clusters", {"type": "MODIFIED", "object": obj("b", READY, rv="12")}),
         (0.1, "secrets", {"type": "ADDED", "object": secret("b-kubeconfig")}))
    out = wait_for_clusters(client, WaitSpec(label_selector="all", namespace="capi", timeout=5),  # type: ignore[arg-type]
                            resource=CLUSTERS)
    assert out["done"] and [c["state"] for c in out["clusters"]] == ["ready"] * 3
    # The first look covers every cluster; later wake-ups (events may coalesce) only a and b.
    assert interpreted[:3] == ["a", "b", "c"] and set(interpreted[3:]) == {"a", "b"}
    assert out["evaluations"] == len(interpreted) <= 7


def test_the_evaluator_looks_only_at_what_the_store_marked() -> None:
    from ansible_collections.multicluster.gitops.plugins.module_utils._capi_wait import _Evaluator, _Store
    store = _Store()
    store.replace("clusters", [obj("a", PENDING), obj("b", READY)])
    store.replace("secrets", [secret("b-kubeconfig")])
    evaluator = _Evaluator(WaitSpec(label_selector="all", namespace="capi"))
    evaluator.update(store, 0.0)
    assert evaluator.evaluations == 2 and evaluator.pending
    store.apply("secrets", "ADDED", secret("unrelated-tls"))
    store.apply("clusters", "MODIFIED", obj("other", PENDING, ns="elsewhere"))  # a new target: evaluated once
    evaluator.update(store, 1.0)
    assert evaluator.evaluations == 3 and evaluator.keys == ["capi/a", "capi/b", "elsewhere/other"]
    store.apply("secrets", "ADDED", secret("a-kubeconfig"))
    evaluator.update(store, 2.0)
    assert evaluator.evaluations == 4
    store.apply("clusters", "MODIFIED", obj("a", READY, rv="2"))
    store.apply("clusters", "DELETED", obj("other", PENDING, ns="elsewhere"))
    evaluator.update(store, 3.0)
    assert evaluator.evaluations == 6 and evaluator.failed  # "other" was deleted during the wait
    ev = evaluator.evaluation(3.0)
    assert ev.ready == ["capi/a", "capi/b"] and ev.failed == ["elsewhere/other"]
    assert [c["seconds_waited"] for c in ev.clusters] == [3.0, 0.0, 3.0]


def test_a_relist_evaluates_every_cluster_again(interpreted: list[str]) -> None:
    client = ScriptedClient([obj("a", PENDING), obj("b", PENDING)], [secret("a-kubeconfig"), secret("b-kubeconfig")])
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}
    feed(client, (0.1, "clusters", gone))

    def ready_on_relist() -> None:
        time.sleep(0.05)
        client.items["clusters"] = [obj("a", READY, rv="20"), obj("b", READY, rv="20")]
    threading.Thread(target=ready_on_relist, daemon=True).start()
    out = wait_for_clusters(client, WaitSpec(names=["capi/a", "capi/b"], timeout=5),  # type: ignore[arg-type]
                            resource=CLUSTERS)
    assert out["done"] and sorted(interpreted) == ["a", "a", "b", "b"]


def test_requests_do_not_grow_with_the_number_of_clusters() -> None:
    """Discovery aside, two LISTs and one watch per kind, whether 3 or 300 clusters turn ready."""
    for n in (3, 300):
        names = [f"c{i:03d}" for i in range(n)]
        client = ScriptedClient([obj(name, PENDING) for name in names], [])
        events = [(0.0, "clusters", {"type": "MODIFIED", "object": obj(name, READY, rv=str(100 + i))})
                  for i, name in enumerate(names)]
        events += [(0.0, "secrets", {"type": "ADDED", "object": secret(f"{name}-kubeconfig")}) for name in names]
        feed(client, *events)
        out = wait_for_clusters(client, WaitSpec(label_selector="all", namespace="capi", timeout=10),  # type: ignore[arg-type]
                                resource=CLUSTERS)
        assert out["done"] and len(out["ready"]) == n
        assert sorted(c[0] for c in client.calls) == ["LIST", "LIST", "WATCH", "WATCH"], n
        assert out["evaluations"] <= 3 * n  # the first look, then one per change at most
