"""The ApplicationSets of role appsets, run by Argo CD v3.2.3's real ApplicationSet controller.

The controller (built from github.com/argoproj/argo-cd/v3 v3.2.3, realengines/appset.py) runs
against a real kube-apiserver with the Argo CD CRDs of the release and progressive syncs on (the
sandbox inventory sets argocd_progressive_syncs). The AppProject and ApplicationSets are rendered
from the role's templates with the role's defaults and vars and the sandbox inventory's
``appsets_*`` variables; the two workload clusters of the sandbox inventory (test-1 env=test,
prod-1 env=prod) are registered with the Secrets multicluster.gitops.argocd_cluster_secret builds.

No Argo CD application controller runs: where RollingSync waits for an Application's sync and
health, the test writes that status itself, as the application controller would.

Skipped with the reason when `python -m realengines build kube argocd` has not run (failed instead
with MCG_ENGINES_REQUIRED=1).
"""
from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_cluster import (
    build_cluster_secret,
    parse_kubeconfig,
)
from realengines.kube import KubeAPIServer
from tests.helpers import wait
from tests.unit.roles import test_kyverno_policy as kyverno_unit

pytestmark = pytest.mark.engines

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "appsets"
SANDBOX_VARS = ROOT / "inventories" / "sandbox" / "group_vars" / "all" / "main.yml"
CAPI_DEFAULTS = ROOT / "roles" / "capi_workloads" / "defaults" / "main.yml"
NS = "argocd"
WAIT = 60.0
APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
APPSETS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applicationsets"


def sandbox() -> dict[str, Any]:
    return yaml.safe_load(SANDBOX_VARS.read_text())


def render(template: str) -> list[dict[str, Any]]:
    """The role's template as Ansible renders it: role defaults and vars, then the sandbox's appsets_* values."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    variables: dict[str, Any] = {}
    for name in ("defaults/main.yml", "vars/main.yml"):
        variables.update(yaml.safe_load((ROLE / name).read_text()) or {})
    variables.update({k: v for k, v in sandbox().items() if k.startswith("appsets_")})
    variables = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in variables.items()}
    text = Templar(loader=DataLoader(), variables=variables).template(
        trust_as_template((ROLE / "templates" / template).read_text()))
    return [doc for doc in yaml.safe_load_all(text) if doc]


def workload_clusters() -> list[dict[str, Any]]:
    """The sandbox's workload clusters as CAPI v1beta2 Cluster objects (name, namespace, labels)."""
    namespace = yaml.safe_load(CAPI_DEFAULTS.read_text())["capi_workloads_default_namespace"]
    return [kyverno_unit.capi_cluster(namespace, c["name"], labels=c.get("labels", {}))
            for c in sandbox()["capi_workloads_clusters"]]


def server_url(cluster: dict[str, Any]) -> str:
    return f"https://{cluster['metadata']['name']}.workloads.example.com:6443"


def request_ok(server: KubeAPIServer, method: str, path: str, body: Any = None, **kwargs) -> dict[str, Any]:
    status, answer = server.request(method, path, body, **kwargs)
    assert status in (200, 201), f"{method} {path}: {status} {answer}"
    return answer


def wait_for(what: str, check: Callable[[], Any], logs: Path, timeout: float = WAIT) -> Any:
    return wait.wait_for(what, check, timeout, hint=f"controller log: {logs}")


def apps(server: KubeAPIServer) -> dict[str, dict[str, Any]]:
    return {a["metadata"]["name"]: a for a in request_ok(server, "GET", APPS)["items"]}


def app_statuses(server: KubeAPIServer, appset: str) -> dict[str, dict[str, Any]]:
    body = request_ok(server, "GET", f"{APPSETS}/{appset}")
    return {s["application"]: s for s in (body.get("status") or {}).get("applicationStatus") or []}


def set_app_status(server: KubeAPIServer, name: str, status: dict[str, Any], *, drop_operation: bool = False) -> None:
    """Write an Application's status as Argo CD's application controller would (the CRD has no status subresource)."""
    patch: dict[str, Any] = {"status": status}
    if drop_operation:
        patch["operation"] = None
    request_ok(server, "PATCH", f"{APPS}/{name}", patch, content_type="application/merge-patch+json")


@pytest.fixture(scope="module")
def hub(real_hub: KubeAPIServer, real_appset) -> KubeAPIServer:
    """Clusters registered, AppProject and ApplicationSets applied (in that order)."""
    for cluster in workload_clusters():
        name = cluster["metadata"]["name"]
        kubeconfig = base64.b64encode(kyverno_unit.kubeconfig(name, server_url(cluster)).encode()).decode()
        secret = build_cluster_secret(cluster, parse_kubeconfig(kubeconfig), argocd_namespace=NS)
        request_ok(real_hub, "POST", f"/api/v1/namespaces/{NS}/secrets", secret)
    for doc in render("appproject.yaml.j2") + render("applicationsets.yaml.j2"):
        request_ok(real_hub, "POST", APPSETS if doc["kind"] == "ApplicationSet"
                   else "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects", doc)
    return real_hub


def test_cluster_generator_selects_by_label(hub, real_appset):
    """guestbook goes to both registered clusters, helm-guestbook-test only to env=test.

    Upstream: argoproj/argo-cd @ v3.2.3 : applicationset/generators/cluster.go (clusters generator:
    cluster Secrets matching selector + argocd.argoproj.io/secret-type=cluster; params name, server,
    metadata.labels) and applicationset/controllers/applicationset_controller.go
    (validateGeneratedApplications: the AppProject and the destination cluster must exist).
    """
    expected = {"test-1-guestbook", "prod-1-guestbook", "test-1-helm-guestbook-test"}
    found = wait_for("the generated Applications", lambda: (a := apps(hub)) and set(a) == expected and a,
                     real_appset.log_file)
    clusters = {c["metadata"]["name"]: c for c in workload_clusters()}
    for name, app in found.items():
        cluster = clusters[name.split("-")[0] + "-1"]
        assert app["spec"]["destination"]["server"] == server_url(cluster)
        assert app["spec"]["project"] == "workloads"
        for key in ("env", "region"):
            assert app["metadata"]["labels"][key] == cluster["metadata"]["labels"][key]
        owner = app["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["controller"]) == ("ApplicationSet", True)
    assert found["test-1-helm-guestbook-test"]["spec"]["source"]["path"] == "helm-guestbook"
    assert "prod-1-helm-guestbook-test" not in found


def test_rolling_sync_goes_step_by_step(hub, real_appset):
    """RollingSync: test clusters first; prod is synced only once test is Healthy.

    Upstream: argoproj/argo-cd @ v3.2.3 : applicationset/controllers/applicationset_controller.go
    (syncValidApplications drops spec.syncPolicy.automated and sets operation.sync on Pending
    OutOfSync Applications; updateApplicationSetApplicationStatus and
    updateApplicationSetProgressiveSyncStatus move Waiting -> Pending -> Progressing -> Healthy
    step by step, maxUpdate per step; getApplicationOwnsHandler ignores the create events of the
    Applications it owns and requeues on their status updates, shouldRequeueForApplication).

    The rollout starts from the application controller's first status report: the reconcile that
    creates the Applications computes the step statuses before they exist, and the controller's own
    create events do not requeue the ApplicationSet. So the test first writes what the application
    controller would right after creation (OutOfSync, Missing), then expects step 1 Pending with a sync
    operation and step 2 Waiting.
    """
    log = real_appset.log_file
    wait_for("both guestbook Applications", lambda: {"test-1-guestbook", "prod-1-guestbook"} <= set(apps(hub)), log)
    found = apps(hub)
    for name in ("test-1-guestbook", "prod-1-guestbook"):
        assert "automated" not in (found[name]["spec"].get("syncPolicy") or {}), \
            f"{name}: RollingSync Applications must not sync by themselves"
    # the application controller reports both out of sync: only the step-1 Application gets a sync
    for name in ("test-1-guestbook", "prod-1-guestbook"):
        set_app_status(hub, name, {"sync": {"status": "OutOfSync"}, "health": {"status": "Missing"}})
    statuses = wait_for("step 1 Pending, step 2 Waiting", lambda: (s := app_statuses(hub, "guestbook")) and
                        s.get("test-1-guestbook", {}).get("status") == "Pending" and s, log)
    assert statuses["test-1-guestbook"]["step"] == "1"
    assert (statuses["prod-1-guestbook"]["step"], statuses["prod-1-guestbook"]["status"]) == ("2", "Waiting")

    synced = wait_for("a sync operation on test-1-guestbook",
                      lambda: (a := apps(hub)) and a["test-1-guestbook"].get("operation") and a, log)
    assert synced["test-1-guestbook"]["operation"]["initiatedBy"]["username"] == "applicationset-controller"
    time.sleep(2)
    assert not apps(hub)["prod-1-guestbook"].get("operation"), "prod was synced before test was Healthy"

    # test-1 synced and healthy: step 2 starts
    set_app_status(hub, "test-1-guestbook", {
        "sync": {"status": "Synced"}, "health": {"status": "Healthy"},
        "operationState": {"phase": "Succeeded", "operation": synced["test-1-guestbook"]["operation"],
                           "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:01Z"}},
        drop_operation=True)
    wait_for("test-1 Healthy and prod-1 Pending", lambda: (s := app_statuses(hub, "guestbook")) and
             s["test-1-guestbook"]["status"] == "Healthy" and s["prod-1-guestbook"]["status"] == "Pending", log)
    wait_for("a sync operation on prod-1-guestbook", lambda: apps(hub)["prod-1-guestbook"].get("operation"), log)
