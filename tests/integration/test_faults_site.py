"""kubernetes.core tasks and the whole site.yml behind the fault-injecting proxy (tests/helpers/faults.py).

The first tests run one kubernetes.core task with the collection's retry pattern (``until: result is not
multicluster.gitops.transient``) through ansible-playbook, so the test plugin sees what ``until`` really gets. The
last one runs site.yml on the sandbox inventory against an emulated hub failing 20 % of the requests
(tests/helpers/faulty_site.py) and checks on the hub that nothing was lost or written twice.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.helpers.ansible import run_playbook
from tests.helpers.faults import PASS, FaultProxy, random_plan
from tests.helpers.faulty_site import FaultySite, inventory_clusters, retried_tasks

pytestmark = pytest.mark.integration

kubemu = pytest.importorskip("kubemu", reason="the emulated Kubernetes API (kubemu) is not available")

PATTERN = """
- hosts: hub
  gather_facts: false
  tasks:
    - name: Read a ConfigMap
      kubernetes.core.k8s_info:
        kubeconfig: "{{ mcg_hub_kubeconfig }}"
        api_version: v1
        kind: ConfigMap
        namespace: default
        name: probe
      register: __probe
      retries: "{{ mcg_k8s_retries | default(5) }}"
      delay: "{{ mcg_k8s_retry_delay | default(3) }}"
      until: __probe is not multicluster.gitops.transient
    - name: Report
      ansible.builtin.debug:
        msg: "attempts={{ __probe.attempts }} found={{ __probe.resources | length }}"
"""


@pytest.fixture(scope="module")
def plain_hub() -> Iterator[Any]:
    srv = kubemu.KubeServer(name="flaky-site", tls=False).start()
    srv.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe", "namespace": "default"}})
    yield srv
    srv.stop()


def _through(proxy: FaultProxy, srv: Any, tmp_path: Path) -> Path:
    kubeconfig = srv.kubeconfig_dict()
    kubeconfig["clusters"][0]["cluster"]["server"] = proxy.url
    path = tmp_path / "hub.kubeconfig"
    path.write_text(json.dumps(kubeconfig))
    return path


def first_n(fault: tuple, n: int) -> Any:
    return lambda method, path, i: fault if i <= n else PASS


# (A connection closed before any answer is retried inside the kubernetes client already: urllib3's default Retry.)
@pytest.mark.parametrize("fault", [("status", 500), ("status", 503), ("reset",)],
                         ids=["500", "503", "reset-mid-response"])
def test_a_kubernetes_core_task_retries_transient_errors(plain_hub: Any, tmp_path: Path, fault: tuple) -> None:
    """The first two requests fail (API discovery included: a module that dies of it gives ``until`` only its
    captured error); the third attempt succeeds."""
    with FaultProxy(plain_hub.url, first_n(fault, 2)) as proxy:
        res = run_playbook(tmp_path, PATTERN, kubeconfig=_through(proxy, plain_hub, tmp_path),
                           extra_vars={"mcg_k8s_retry_delay": 0})
    assert res.rc == 0, res.stdout[-3000:]
    assert "attempts=3 found=1" in res.stdout
    assert len(retried_tasks(res.stdout)) == 2 and sum(v for k, v in proxy.counts.items() if k != "pass") == 2


@pytest.mark.parametrize("status", [403, 401, 409])
def test_a_kubernetes_core_task_fails_at_once_on_a_permanent_error(plain_hub: Any, tmp_path: Path,
                                                                   status: int) -> None:
    with FaultProxy(plain_hub.url, first_n(("status", status), 100)) as proxy:
        res = run_playbook(tmp_path, PATTERN, kubeconfig=_through(proxy, plain_hub, tmp_path),
                           extra_vars={"mcg_k8s_retry_delay": 0})
    assert res.rc != 0 and res.failed() == 1
    assert retried_tasks(res.stdout) == [] and proxy.counts[f"status {status}"] == 1
    assert "attempts: 1" in res.stdout


def test_retries_end_and_the_task_fails_with_the_api_error(plain_hub: Any, tmp_path: Path) -> None:
    with FaultProxy(plain_hub.url, first_n(("status", 503), 100)) as proxy:
        res = run_playbook(tmp_path, PATTERN, kubeconfig=_through(proxy, plain_hub, tmp_path),
                           extra_vars={"mcg_k8s_retry_delay": 0, "mcg_k8s_retries": 2})
    assert res.rc != 0
    assert len(retried_tasks(res.stdout)) == 2 and proxy.counts["status 503"] == 3
    assert "Service Unavailable" in res.stdout


# --- site.yml ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_site_converges_through_a_hub_failing_a_fifth_of_the_requests(tmp_path: Path) -> None:
    """20 % of the hub's answers are 500, 429 + Retry-After or a connection cut mid-response. site.yml converges in
    one run, or fails with the API's error named and converges in the second; then every cluster of the inventory
    has exactly one Argo CD cluster Secret, no cluster Secret lacks its cluster, and -vvv shows no credential."""
    from tests.conftest import CRD_DIR
    started = time.monotonic()
    with FaultySite(tmp_path, random_plan(0.2, seed=20), crd_dir=CRD_DIR) as site:
        first = site.run(verbosity=3)
        runs = [first]
        if first.rc != 0:
            failed = [line for line in first.stdout.splitlines() if line.startswith(("fatal:", "[ERROR]:"))]
            assert failed, first.stdout[-3000:]
            assert "Traceback" not in "\n".join(failed)
            runs.append(site.run(verbosity=3))
        assert runs[-1].rc == 0, runs[-1].stdout[-5000:]
        faults = {k: v for k, v in site.proxy.counts.items() if k != "pass"}
        secrets = site.argocd_cluster_secrets()
        clusters = site.capi_clusters()
        credentials = site.credentials()

    # the proxy really failed requests, and the roles' kubernetes.core tasks retried some of them
    assert sum(faults.values()) > 0 and len(faults) >= 2, faults
    assert sum(len(retried_tasks(run.stdout)) for run in runs) > 0

    expected = sorted(c["name"] for c in inventory_clusters())
    by_cluster: dict[str, list[str]] = {}
    for secret in secrets:
        labels = secret["metadata"].get("labels") or {}
        by_cluster.setdefault(labels.get("multicluster.gitops/cluster-name", "?"), []).append(secret["metadata"]["name"])
    assert sorted(by_cluster) == expected, by_cluster  # no Secret without a cluster of the inventory
    assert all(len(names) == 1 for names in by_cluster.values()), by_cluster  # none twice
    assert sorted(c["metadata"]["name"] for c in clusters) == expected  # each cluster once, none orphaned

    assert len(credentials) >= 5
    for run in runs:
        for value in credentials:
            assert value not in run.stdout, f"a credential ({value[:6]}...) is in the -vvv output"
    assert time.monotonic() - started < 1800
