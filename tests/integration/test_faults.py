"""The collection's Kubernetes client and capi_cluster_wait behind a fault-injecting proxy.

The proxy (tests/helpers/faults.py) sits on 127.0.0.1 in front of a plain-HTTP emulated API server and
answers some requests with 500, 429 + Retry-After, a connection cut mid-response, silence, or a
refusal, so these tests see what a flaky hub does to one request, to a create, and to a long wait.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from ansible_collections.multicluster.gitops.plugins.module_utils._capi_wait import WaitSpec, wait_for_clusters
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError, ResourceTimeout
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import (
    SECRET, KubeClient, api_client_from_params,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._retry import RetryPolicy, retry_after_seconds
from tests.helpers.ansible import run_playbook
from tests.helpers.faults import PASS, FaultProxy, random_plan, window_plan
from tests.conftest import skip_module_without_capi_crd
skip_module_without_capi_crd()  # before the import below, whose module needs the CRD too
from tests.integration.test_capi_cluster_wait import V2_PENDING, Hub, _crd_dir, in_background  # noqa: E402

pytestmark = pytest.mark.integration

kubemu = pytest.importorskip("kubemu", reason="the emulated Kubernetes API (kubemu) is not available")


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    srv = kubemu.KubeServer(name="flaky", crd_dir=_crd_dir(tmp_path_factory.mktemp("crds")), tls=False).start()
    _TOKEN["admin"] = srv.kubeconfig_dict()["users"][0]["user"]["token"]
    yield srv
    srv.stop()


@pytest.fixture
def proxy(plain_server: Any) -> Iterator[FaultProxy]:
    with FaultProxy(plain_server.url) as p:
        yield p


_TOKEN: dict[str, str] = {}


def client_for(url: str, *, attempts: int = 8, read_timeout: float = 60.0, budget: float = 30.0) -> KubeClient:
    return KubeClient(api_client_from_params({"host": url, "api_key": _TOKEN.get("admin")}), read_timeout=read_timeout,
                      retry=RetryPolicy(attempts=attempts, base=0.05, cap=0.5, budget=budget))


def secret(name: str, ns: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns, "labels": {"a": "b"}},
            "stringData": {"k": "v"}}


def first_n(fault: tuple, n: int):
    return lambda method, path, i: fault if i <= n else PASS


@pytest.mark.parametrize("fault", [("status", 500), ("status", 503), ("status", 429, 0), ("reset",), ("down",)],
                         ids=["500", "503", "429", "reset-mid-response", "refused"])
def test_a_read_survives_transient_faults(proxy: FaultProxy, fault: tuple) -> None:
    proxy.plan = first_n(fault, 3)
    client = client_for(proxy.url)
    data = client.list(SECRET, "default")
    assert data["kind"] == "SecretList"
    assert client.retries == 3
    assert sum(proxy.counts.values()) == 4


def test_429_retry_after_is_honoured(proxy: FaultProxy) -> None:
    proxy.plan = first_n(("status", 429, 1), 1)
    client = client_for(proxy.url)
    started = time.monotonic()
    client.list(SECRET, "default")
    assert time.monotonic() - started >= 0.95  # slept the server's Retry-After, not the 0.05 s back-off
    assert proxy.counts["status 429"] == 1


def test_a_permanent_error_is_not_retried(proxy: FaultProxy) -> None:
    proxy.plan = first_n(("status", 403), 10)
    client = client_for(proxy.url)
    with pytest.raises(ApiError) as err:
        client.list(SECRET, "default")
    assert err.value.status == 403
    assert client.retries == 0 and proxy.counts["status 403"] == 1


def test_retries_end_and_say_where_and_why(proxy: FaultProxy) -> None:
    proxy.plan = first_n(("status", 500), 100)
    client = client_for(proxy.url, attempts=3)
    with pytest.raises(ApiError) as err:
        client.list(SECRET, "default")
    assert err.value.status == 500 and "after 3 attempts" in err.value.msg
    assert proxy.counts["status 500"] == 3


def test_a_refused_connection_is_one_line_naming_the_server() -> None:
    with socket_closed_port() as url:
        client = client_for(url, attempts=2)
        with pytest.raises(ApiError) as err:
            client.list(SECRET, "default")
    msg = err.value.msg
    assert msg.startswith(f"GET {url}/api/v1/namespaces/default/secrets: connection refused")
    assert "after 2 attempts" in msg and "\n" not in msg and "Traceback" not in msg


def test_a_silent_server_times_out_instead_of_hanging(proxy: FaultProxy) -> None:
    proxy.plan = first_n(("hang", 5), 100)
    client = client_for(proxy.url, attempts=1, read_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ApiError) as err:
        client.list(SECRET, "default")
    assert time.monotonic() - started < 3
    assert "timed out" in err.value.msg


def test_a_create_whose_answer_was_lost_is_reconciled_not_failed(proxy: FaultProxy, plain_server: Any) -> None:
    """The first POST lands but its answer is cut; the retry meets 409 AlreadyExists, re-reads, and succeeds."""
    name = f"lost-{time.monotonic_ns()}"
    calls = {"n": 0}

    def plan(method: str, path: str, i: int) -> tuple:
        if method == "POST":
            calls["n"] += 1
            if calls["n"] == 1:
                plain_server.create(secret(name))  # the write happens; then the connection breaks
                return ("reset",)
        return PASS
    proxy.plan = plan
    client = client_for(proxy.url)
    live = client.create(SECRET, secret(name), "default")
    assert live["metadata"]["name"] == name and live["data"] == {"k": "dg=="}
    assert client.retries == 1


def test_a_create_meeting_someone_elses_object_still_fails(proxy: FaultProxy, plain_server: Any) -> None:
    name = f"theirs-{time.monotonic_ns()}"
    other = secret(name)
    other["stringData"] = {"k": "other"}
    calls = {"n": 0}

    def plan(method: str, path: str, i: int) -> tuple:
        if method == "POST":
            calls["n"] += 1
            if calls["n"] == 1:
                plain_server.create(other)
                return ("status", 503)
        return PASS
    proxy.plan = plan
    with pytest.raises(ApiError) as err:
        client_for(proxy.url).create(SECRET, secret(name), "default")
    assert err.value.status == 409


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:10 GMT", now=lambda: 1767225600.0) == 10.0


# --- the wait -----------------------------------------------------------------------------------------------
def test_wait_survives_ten_seconds_of_outage_and_a_blip_at_the_start(plain_server: Any, proxy: FaultProxy) -> None:
    """Every request fails for 10 s (starting with the LIST that opens the wait), then the cluster turns ready."""
    hub = Hub(plain_server)
    hub.client = client_for(proxy.url, attempts=2, budget=1.0)  # the client gives up fast: the wait must not
    hub.cluster("flaky-1", status=V2_PENDING)
    proxy.plan = window_plan(("status", 503), time.monotonic(), 10.0)
    worker = in_background(lambda: (time.sleep(11), hub.provision("flaky-1")))
    out = wait_for_clusters(hub.client, WaitSpec(names=[f"{hub.ns}/flaky-1"], timeout=60))
    worker.join()
    assert out["done"] and out["ready"] == [f"{hub.ns}/flaky-1"]
    assert proxy.counts["status 503"] >= 4


def test_wait_survives_ten_seconds_of_outage_while_watching(plain_server: Any, proxy: FaultProxy) -> None:
    """The wait is watching when the hub goes away for 10 s (streams cut, connections refused); it keeps
    retrying with back-off, as client-go's reflector does, and sees the cluster turn ready afterwards."""
    hub = Hub(plain_server)
    hub.client = client_for(proxy.url, attempts=2, budget=1.0)
    hub.cluster("flaky-2", status=V2_PENDING)

    def outage_then_ready() -> None:
        time.sleep(1.0)  # the wait has listed and is watching
        proxy.plan = window_plan(("down",), time.monotonic(), 10.0)
        plain_server.drop_watches()
        time.sleep(10.5)
        hub.provision("flaky-2")
    worker = in_background(outage_then_ready)
    out = wait_for_clusters(hub.client, WaitSpec(names=[f"{hub.ns}/flaky-2"], timeout=60))
    worker.join()
    assert out["done"] and out["ready"] == [f"{hub.ns}/flaky-2"]
    assert proxy.counts["down"] >= 5


def test_wait_ends_at_its_timeout_against_a_silent_hub(proxy: FaultProxy, plain_server: Any) -> None:
    hub = Hub(plain_server)
    hub.client = client_for(proxy.url, attempts=1, read_timeout=1.0)
    hub.cluster("mute-1", status=V2_PENDING)
    proxy.plan = first_n(("hang", 30), 10_000)
    started = time.monotonic()
    with pytest.raises(ResourceTimeout) as err:
        wait_for_clusters(hub.client, WaitSpec(names=[f"{hub.ns}/mute-1"], timeout=4), resource=_cluster_res())
    took = time.monotonic() - started
    assert 3.5 <= took < 8, took
    assert proxy.url in err.value.msg and f"{hub.ns}/mute-1" in err.value.msg


def test_wait_timeout_counts_time_before_the_module_started(plain_server: Any) -> None:
    """The action plugin passes the task's start (wall clock): start-up before the wait is part of the timeout."""
    hub = Hub(plain_server)
    hub.cluster("late-1", status=V2_PENDING)
    spec = WaitSpec(names=[f"{hub.ns}/late-1"], timeout=5, started_at=time.time() - 3.5)
    started = time.monotonic()
    with pytest.raises(ResourceTimeout) as err:
        wait_for_clusters(hub.client, spec)
    assert time.monotonic() - started < 2.5
    assert "Timed out after 5s" in err.value.msg


def test_wait_under_random_faults_converges(plain_server: Any, proxy: FaultProxy) -> None:
    hub = Hub(plain_server)
    hub.client = client_for(proxy.url)
    for i in range(5):
        hub.cluster(f"r-{i}", status=V2_PENDING)
    proxy.plan = random_plan(0.5, seed=11)

    def provision_all() -> None:
        for i in range(5):
            hub.provision(f"r-{i}", delay=0.1)
    worker = in_background(provision_all)
    out = wait_for_clusters(hub.client, WaitSpec(names=[f"{hub.ns}/r-{i}" for i in range(5)], timeout=60))
    worker.join()
    assert out["done"] and len(out["ready"]) == 5
    assert sum(v for k, v in proxy.counts.items() if k != "pass") >= 1


# --- playbooks -------------------------------------------------------------------------------------------------
def test_destroy_stops_before_the_providers_when_the_cluster_list_fails(tmp_path: Path) -> None:
    """An HTTP 500 on the list of workload clusters must fail destroy.yml before any provider is deleted
    (deleting CAPOCI with clusters left would strand their OCI resources)."""
    from tests.conftest import CRD_DIR
    srv = kubemu.KubeServer(name="destroy-flaky", crd_dir=CRD_DIR, tls=False).start()
    try:
        managed = {"app.kubernetes.io/managed-by": "multicluster.gitops"}
        srv.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "capi-system", "labels": managed}})
        srv.create({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "metadata": {
            "name": "wl-a", "namespace": "default", "labels": managed}, "spec": {}})
        srv.create({"apiVersion": "operator.cluster.x-k8s.io/v1alpha2", "kind": "CoreProvider", "metadata": {
            "name": "cluster-api", "namespace": "capi-system", "labels": managed}, "spec": {"version": "v1.12.11"}})

        def plan(method: str, path: str, i: int) -> tuple:
            return ("status", 500) if method == "GET" and path.split("?")[0].endswith("/clusters") else PASS
        with FaultProxy(srv.url, plan) as proxy:
            kubeconfig = srv.kubeconfig_dict()
            kubeconfig["clusters"][0]["cluster"]["server"] = proxy.url
            path = tmp_path / "hub.kubeconfig"
            path.write_text(json.dumps(kubeconfig))
            res = run_playbook(tmp_path, "playbooks/destroy.yml", kubeconfig=path,
                               extra_vars={"mcg_destroy_confirm": True, "mcg_helm_enabled": False})
        assert proxy.counts["status 500"] >= 1
        assert res.rc != 0, res.stdout[-3000:]
        assert "List the workload clusters" in res.stdout
        assert srv.get("operator.cluster.x-k8s.io/v1alpha2", "CoreProvider", "cluster-api", "capi-system") is not None
        assert srv.get("cluster.x-k8s.io/v1beta2", "Cluster", "wl-a", "default") is not None
    finally:
        srv.stop()


# --- helpers ---------------------------------------------------------------------------------------------------
def _cluster_res() -> Any:
    from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import Resource
    return Resource("cluster.x-k8s.io", "v1beta2", "clusters", "Cluster")


class socket_closed_port:
    """A loopback URL where nothing listens (a port bound, then released)."""

    def __enter__(self) -> str:
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: Any) -> None:
        pass
