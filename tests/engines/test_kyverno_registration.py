"""The registration ClusterPolicy of role kyverno_policies, run by real Kyverno v1.18.2.

Real Kyverno (admission + background controllers built from github.com/kyverno/kyverno v1.18.2,
realengines/kyverno.py) runs against a real kube-apiserver with the CAPI Cluster CRD of v1.12.11
(no conversion webhook: only v1beta2 objects are written and read). The policy and its RBAC are
rendered exactly as the unit tests render them (tests/unit/roles/test_kyverno_policy.py: Templar
with the role's defaults and vars); the CAPI objects come from the same helpers. The Argo CD
Secret Kyverno generates must equal what multicluster.gitops.argocd_cluster_secret builds for the
same Cluster (build_cluster_secret), plus the labels Kyverno itself puts on every generated
resource. The expected labels are computed from the module's builder, never written out here, so
the test follows any change of the label scheme made in both places.

Skipped with the reason when `python -m realengines build kube kyverno` has not run (failed instead
with MCG_ENGINES_REQUIRED=1).
"""
from __future__ import annotations

import base64
import time
import uuid
from typing import Any, Callable, Iterator

import pytest
import yaml

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_cluster import (
    build_cluster_secret,
    parse_kubeconfig,
    secret_name,
)
from realengines.crds import default_crd_dir, install_crds
from realengines.kube import KubeAPIServer
from tests.helpers import wait
from tests.unit.roles import test_kyverno_policy as unit

pytestmark = pytest.mark.engines

CAPI_CRDS = "cluster-api-v1.12.11"
ARGOCD_NS = "argocd"
WAIT = 90.0


# --- API helpers ----------------------------------------------------------------------------------

def _path(obj: dict[str, Any]) -> str:
    """Collection path of ``obj`` (core, rbac, kyverno and CAPI kinds used here)."""
    group_version, kind = obj["apiVersion"], obj["kind"]
    plural = {"ClusterPolicy": "clusterpolicies"}.get(kind, kind.lower() + "s")
    prefix = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
    namespace = obj["metadata"].get("namespace")
    return f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"


def create(server: KubeAPIServer, obj: dict[str, Any]) -> dict[str, Any]:
    status, body = server.request("POST", _path(obj), obj)
    assert status == 201, f"creating {obj['kind']} {obj['metadata']['name']}: {status} {body}"
    return body


def get(server: KubeAPIServer, path: str) -> dict[str, Any] | None:
    status, body = server.request("GET", path)
    if status == 404:
        return None
    assert status == 200, f"GET {path}: {status} {body}"
    return body


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT, logs: Any = None) -> Any:
    return wait.wait_for(what, check, timeout, hint=f"Kyverno logs: {logs}" if logs else "")


def ensure_namespace(server: KubeAPIServer, name: str) -> None:
    status, body = server.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert status in (201, 409), body


def argocd_secret_path(namespace: str, cluster: str) -> str:
    return f"/api/v1/namespaces/{ARGOCD_NS}/secrets/{secret_name(namespace, cluster)}"


def kyverno_labels(policy: dict[str, Any], rule: str, trigger: dict[str, Any]) -> dict[str, str]:
    """Labels Kyverno's background controller sets on every resource a generate rule writes.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go (ManageLabels: managedBy,
    PolicyInfo, TriggerInfo), called from pkg/background/generate/generator.go before create/update.
    """
    group, _slash, version = trigger["apiVersion"].rpartition("/")
    return {
        "app.kubernetes.io/managed-by": "kyverno",
        "generate.kyverno.io/policy-name": policy["metadata"]["name"],
        "generate.kyverno.io/policy-namespace": "",
        "generate.kyverno.io/rule-name": rule,
        "generate.kyverno.io/trigger-group": group,
        "generate.kyverno.io/trigger-version": version,
        "generate.kyverno.io/trigger-kind": trigger["kind"],
        "generate.kyverno.io/trigger-namespace": trigger["metadata"]["namespace"],
        "generate.kyverno.io/trigger-uid": trigger["metadata"]["uid"],
    }


def expected_secret(server: KubeAPIServer, policy: dict[str, Any], trigger: dict[str, Any]) -> dict[str, Any]:
    """What the module writes for the trigger's Cluster, with Kyverno's own labels laid over it."""
    meta = trigger["metadata"]
    cluster = get(server, f"/apis/cluster.x-k8s.io/v1beta2/namespaces/{meta['namespace']}/clusters/"
                          f"{meta['labels']['cluster.x-k8s.io/cluster-name']}")
    assert cluster is not None
    want = build_cluster_secret(cluster, parse_kubeconfig(trigger["data"]["value"]))
    rule = policy["spec"]["rules"][0]["name"]
    want["metadata"]["labels"] = {**want["metadata"]["labels"], **kyverno_labels(policy, rule, trigger)}
    return want


def comparable(secret: dict[str, Any]) -> dict[str, Any]:
    meta = secret["metadata"]
    return {"name": meta["name"], "namespace": meta["namespace"], "labels": meta.get("labels", {}),
            "annotations": meta.get("annotations", {}), "type": secret.get("type"), "data": secret.get("data")}


# --- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hub(real_hub: KubeAPIServer, real_kyverno) -> KubeAPIServer:
    """The real hub with Kyverno running and the CAPI Cluster CRD (v1.12.11) installed."""
    crd_dir = default_crd_dir(CAPI_CRDS)
    if not crd_dir.is_dir():
        pytest.skip(f"CAPI CRDs not found in {crd_dir}")
    install_crds(real_hub, [crd_dir / "cluster.x-k8s.io_clusters.yaml"])
    ensure_namespace(real_hub, ARGOCD_NS)
    return real_hub


def new_cluster(hub: KubeAPIServer, *, labels: dict[str, str] | None = None, token: bool = False,
                server: str | None = None, create_secret: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fresh namespace with a v1beta2 Cluster and (unless told otherwise) its kubeconfig Secret."""
    namespace, name = f"team-{uuid.uuid4().hex[:6]}", f"wl-{uuid.uuid4().hex[:6]}"
    ensure_namespace(hub, namespace)
    cluster = create(hub, unit.capi_cluster(namespace, name, labels=labels,
                                            annotations={"note": "not copied"}))
    secret = unit.capi_secret(namespace, name, unit.kubeconfig(
        name, server or f"https://{name}.example.com:6443", token=token))
    if create_secret:
        secret = create(hub, secret)
    return cluster, secret


@pytest.fixture(scope="module")
def preexisting(hub: KubeAPIServer) -> dict[str, Any]:
    """A CAPI kubeconfig Secret written before the policy exists (generateExisting must pick it up)."""
    secret = new_cluster(hub, labels={"env": "test"})[1]
    return secret


@pytest.fixture(scope="module")
def policy(hub: KubeAPIServer, real_kyverno, preexisting: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The role's RBAC and ClusterPolicy applied, the policy Ready (the hub's own URL excluded)."""
    for obj in unit.render("registration-rbac.yaml.j2"):
        create(hub, obj)
    (doc,) = unit.render("registration-clusterpolicy.yaml.j2", _kyverno_policies_hub_urls=[hub.url])
    create(hub, doc)
    path = f"/apis/kyverno.io/v1/clusterpolicies/{doc['metadata']['name']}"

    def ready() -> bool:
        conditions = (get(hub, path) or {}).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    wait_for("the ClusterPolicy to become Ready", ready, logs=real_kyverno.logs)
    yield doc
    # The hub is shared by the session: leave no policy and no registered cluster behind for other tests
    # (the ApplicationSet tests select every registered cluster Secret of this namespace).
    hub.request("DELETE", path)
    registered = "labelSelector=multicluster.gitops%2Fregistered%3Dtrue"
    hub.request("DELETE", f"/api/v1/namespaces/{ARGOCD_NS}/secrets?{registered}")


# --- tests ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("token", [False, True], ids=["client-cert", "token"])
def test_generated_secret_equals_module_secret(hub, real_kyverno, policy, token):
    """A `<cluster>-kubeconfig` Secret makes Kyverno write the Secret the module would write.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/webhooks/resource/generation (admission creates an
    UpdateRequest), pkg/background/generate/generator.go (the background controller creates the
    resource from rule.generate.data) and pkg/background/common/labels.go (labels it adds). The
    trigger is created after the policy, so the rule's apiCall entries are loaded at admission: that
    needs pkg/webhooks/resource/updaterequest.go @ v1.18.2 (handleBackgroundApplies gives generate its
    own context; in v1.17.x it used the request's, cancelled once the webhook answered: issue #15330).
    """
    trigger = new_cluster(hub, labels={"env": "prod", "region": "eu-frankfurt-1", "owner": "x"}, token=token)[1]
    meta = trigger["metadata"]
    generated = wait_for("the Argo CD cluster Secret", lambda: get(
        hub, argocd_secret_path(meta["namespace"], meta["labels"]["cluster.x-k8s.io/cluster-name"])),
        logs=real_kyverno.logs)
    assert comparable(generated) == comparable(expected_secret(hub, policy, trigger))


def test_existing_kubeconfig_secret_is_registered(hub, real_kyverno, policy, preexisting):
    """generateExisting: a kubeconfig Secret written before the policy is registered too.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/policy/generate.go (handleGenerateForExisting: an
    UpdateRequest for each existing resource a generateExisting rule matches).
    """
    meta = preexisting["metadata"]
    generated = wait_for("the Argo CD cluster Secret of the pre-existing cluster", lambda: get(
        hub, argocd_secret_path(meta["namespace"], meta["labels"]["cluster.x-k8s.io/cluster-name"])),
        logs=real_kyverno.logs)
    assert comparable(generated) == comparable(expected_secret(hub, policy, preexisting))


def test_rotated_kubeconfig_updates_the_secret(hub, real_kyverno, policy):
    """synchronize: a new kubeconfig in the CAPI Secret updates the generated Secret's config.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/background/generate/generator.go (Update when the
    target differs and rule.generate.synchronize is true).
    """
    trigger = new_cluster(hub)[1]
    meta = trigger["metadata"]
    cluster_name = meta["labels"]["cluster.x-k8s.io/cluster-name"]
    path = argocd_secret_path(meta["namespace"], cluster_name)
    before = wait_for("the Argo CD cluster Secret", lambda: get(hub, path), logs=real_kyverno.logs)
    rotated = {**trigger, "data": {"value": base64.b64encode(unit.kubeconfig(
        cluster_name, f"https://{cluster_name}.example.com:6443", token=True).encode()).decode()}}
    status, body = hub.request("PUT", f"/api/v1/namespaces/{meta['namespace']}/secrets/{meta['name']}", rotated)
    assert status == 200, body
    after = wait_for("the rotated config", lambda: (s := get(hub, path)) and s["data"]["config"] != before["data"]["config"]
                     and s, logs=real_kyverno.logs)
    assert comparable(after) == comparable(expected_secret(hub, policy, body))
    assert after["data"]["server"] == before["data"]["server"]


def test_deleted_kubeconfig_secret_deletes_the_secret(hub, real_kyverno, policy):
    """synchronize: deleting the trigger deletes the generated Secret.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/webhooks/resource/generation (a DELETE of the trigger
    becomes an UpdateRequest) and pkg/background/generate/cleanup.go (downstream deleted when
    synchronize is on).
    """
    trigger = new_cluster(hub)[1]
    meta = trigger["metadata"]
    path = argocd_secret_path(meta["namespace"], meta["labels"]["cluster.x-k8s.io/cluster-name"])
    wait_for("the Argo CD cluster Secret", lambda: get(hub, path), logs=real_kyverno.logs)
    status, body = hub.request("DELETE", f"/api/v1/namespaces/{meta['namespace']}/secrets/{meta['name']}")
    assert status == 200, body
    wait_for("the Argo CD cluster Secret to be deleted", lambda: get(hub, path) is None, logs=real_kyverno.logs)


def test_excluded_clusters_are_not_registered(hub, real_kyverno, policy):
    """service_account clusters, the hub's own URL and a missing Cluster object are skipped.

    A control cluster, created after the excluded ones, is registered: once its Secret exists the
    excluded ones have had their turn (one UpdateRequest queue).
    Upstream: kyverno/kyverno @ v1.18.2 : pkg/engine/internal/preconditions.go (a rule whose
    preconditions fail is skipped) and pkg/engine/apicall/apiCall.go (the apiCall default when the
    Cluster does not exist).
    """
    excluded = [
        new_cluster(hub, labels={"multicluster.gitops/credential-mode": "service_account"})[1],
        new_cluster(hub, server=hub.url + "/")[1],
    ]
    namespace, name = f"team-{uuid.uuid4().hex[:6]}", f"wl-{uuid.uuid4().hex[:6]}"
    ensure_namespace(hub, namespace)
    excluded.append(create(hub, unit.capi_secret(namespace, name, unit.kubeconfig(name, "https://orphan.example.com"))))
    control = new_cluster(hub)[1]
    cmeta = control["metadata"]
    wait_for("the control cluster's Secret", lambda: get(
        hub, argocd_secret_path(cmeta["namespace"], cmeta["labels"]["cluster.x-k8s.io/cluster-name"])),
        logs=real_kyverno.logs)
    time.sleep(3)
    for trigger in excluded:
        meta = trigger["metadata"]
        assert get(hub, argocd_secret_path(meta["namespace"], meta["labels"]["cluster.x-k8s.io/cluster-name"])) is None


def test_policy_is_refused_without_rbac_for_the_background_controller(hub, real_kyverno, policy):
    """Kyverno refuses a generate policy its background controller may not carry out.

    The role's RBAC grants Secrets only in the Argo CD namespace; the same policy aimed at another
    namespace is refused at admission (a SubjectAccessReview for the background controller's
    service account). Upstream: kyverno/kyverno @ v1.18.2 : pkg/policy/generate/validate.go
    (canIGenerate: get, create, update, delete when synchronize).
    """
    (doc,) = unit.render("registration-clusterpolicy.yaml.j2", _kyverno_policies_hub_urls=[hub.url],
                         kyverno_policies_policy_name="registration-elsewhere",
                         kyverno_policies_argocd_namespace="not-argocd")
    status, body = hub.request("POST", "/apis/kyverno.io/v1/clusterpolicies", doc)
    assert status >= 400, f"Kyverno accepted a policy its background controller cannot run: {body}"
    assert "not-argocd" in yaml.safe_dump(body) or "secrets" in body.get("message", ""), body
