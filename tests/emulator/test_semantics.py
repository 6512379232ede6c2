"""dryRun, status subresource, Secrets, token controller, finalizers, server-side apply."""
from __future__ import annotations

import base64

import pytest
import yaml

from .conftest import Raw, cm, deployment, eventually

APPLY = "application/apply-patch+yaml"


def test_dry_run_stores_nothing(raw, ns, kube_hub):
    """Upstream: kubernetes/apimachinery @ v0.34.4 (kubernetes/kubernetes @ v1.34.4 staging) :
    pkg/apis/meta/v1/validation/validation.go (ValidateDryRun: only "All", else NotSupported -> 422)."""
    base = f"/api/v1/namespaces/{ns}/configmaps"
    status, obj = raw("POST", f"{base}?dryRun=All", cm("a", x="1"))
    assert status == 201 and obj["metadata"]["uid"]
    assert kube_hub.get("v1", "ConfigMap", "a", ns) is None
    raw("POST", base, cm("a", x="1"))
    status, obj = raw("PATCH", f"{base}/a?dryRun=All", {"data": {"x": "2"}}, "application/merge-patch+json")
    assert status == 200 and obj["data"] == {"x": "2"}
    assert raw("PUT", f"{base}/a?dryRun=All", cm("a", x="3"))[0] == 200
    assert raw("DELETE", f"{base}/a?dryRun=All")[0] == 200
    assert kube_hub.get("v1", "ConfigMap", "a", ns)["data"] == {"x": "1"}
    status, body = raw("POST", f"{base}?dryRun=Some", cm("b"))
    assert status == 422 and body["details"]["causes"][0]["field"] == "dryRun"


def test_status_only_through_the_status_subresource(raw, ns):
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    dep = deployment("d") | {"status": {"replicas": 9}}
    status, created = raw("POST", base, dep)
    assert status == 201 and not created.get("status")  # status is ignored on create
    ready = {"replicas": 1, "readyReplicas": 1}  # readyReplicas may not exceed replicas
    status, obj = raw("PATCH", f"{base}/d/status", {"status": ready, "spec": {"replicas": 5}},
                      "application/merge-patch+json")
    assert obj["status"] == ready and obj["spec"]["replicas"] == 1
    assert obj["metadata"]["generation"] == 1  # status writes never bump generation
    status, obj = raw("PATCH", f"{base}/d", {"status": {"readyReplicas": 7}, "spec": {"replicas": 2}},
                      "application/merge-patch+json")
    assert obj["status"] == ready and obj["spec"]["replicas"] == 2
    assert obj["metadata"]["generation"] == 2
    assert raw("GET", f"/api/v1/namespaces/{ns}/configmaps/x/status")[0] == 404  # no such subresource


def test_secret_string_data_is_merged_into_data(core, ns):
    core.create_namespaced_secret(ns, {
        "metadata": {"name": "s"}, "data": {"a": base64.b64encode(b"1").decode()}, "stringData": {"b": "two"},
    })
    secret = core.read_namespaced_secret("s", ns)
    assert secret.string_data is None and secret.type == "Opaque"
    assert {k: base64.b64decode(v).decode() for k, v in secret.data.items()} == {"a": "1", "b": "two"}


def test_service_account_token_secret_is_filled_and_authenticates(kube_hub, core, ns):
    core.create_namespaced_service_account(ns, {"metadata": {"name": "robot"}})
    core.create_namespaced_secret(ns, {"metadata": {"name": "robot-token", "annotations": {
        "kubernetes.io/service-account.name": "robot"}}, "type": "kubernetes.io/service-account-token"})
    data = eventually(lambda: (core.read_namespaced_secret("robot-token", ns).data or {}).get("token")
                      and core.read_namespaced_secret("robot-token", ns).data)
    assert base64.b64decode(data["ca.crt"]) == kube_hub.ca_pem
    assert base64.b64decode(data["namespace"]).decode() == ns
    token = base64.b64decode(data["token"]).decode()
    as_robot = Raw(kube_hub, token=token)
    assert as_robot("GET", "/api")[0] == 200  # discovery: open to every authenticated user
    core.delete_namespaced_secret("robot-token", ns)

    # kube-apiserver caches a successful token authentication for 10 s (kubemu revokes at once)
    def revoked():
        answer = as_robot("GET", "/api")
        return answer if answer[0] == 401 else None

    status, body = eventually(revoked)
    assert status == 401 and body["reason"] == "Unauthorized"


def test_finalizers_delay_deletion(raw, ns, kube_hub):
    base = f"/api/v1/namespaces/{ns}/configmaps"
    raw("POST", base, {**cm("f"), "metadata": {"name": "f", "finalizers": ["example.com/keep"]}})
    status, obj = raw("DELETE", f"{base}/f")
    assert status == 200 and obj["metadata"]["deletionTimestamp"]
    assert kube_hub.get("v1", "ConfigMap", "f", ns)["metadata"]["deletionTimestamp"]
    raw("PATCH", f"{base}/f", {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    assert kube_hub.get("v1", "ConfigMap", "f", ns) is None


def test_owner_references_are_garbage_collected(raw, ns, kube_hub):
    owner = kube_hub.create(cm("owner") | {"metadata": {"name": "owner", "namespace": ns}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    kube_hub.create(cm("child") | {"metadata": {"name": "child", "namespace": ns, "ownerReferences": [ref]}})
    raw("DELETE", f"/api/v1/namespaces/{ns}/configmaps/owner")
    assert eventually(lambda: kube_hub.get("v1", "ConfigMap", "child", ns) is None)


def test_garbage_collection_follows_the_current_owner_references(raw, ns, kube_hub):
    """A dependent whose ownerReference was removed by an update is not collected; one that gained it is."""
    owner = kube_hub.create(cm("owner2") | {"metadata": {"name": "owner2", "namespace": ns}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner2", "uid": owner["metadata"]["uid"]}
    kube_hub.create(cm("freed") | {"metadata": {"name": "freed", "namespace": ns, "ownerReferences": [ref]}})
    kube_hub.create(cm("adopted") | {"metadata": {"name": "adopted", "namespace": ns}})
    base = f"/api/v1/namespaces/{ns}/configmaps"
    raw("PATCH", f"{base}/freed", {"metadata": {"ownerReferences": None}}, "application/merge-patch+json")
    raw("PATCH", f"{base}/adopted", {"metadata": {"ownerReferences": [ref]}}, "application/merge-patch+json")
    raw("DELETE", f"{base}/owner2")
    assert eventually(lambda: kube_hub.get("v1", "ConfigMap", "adopted", ns) is None)
    assert kube_hub.get("v1", "ConfigMap", "freed", ns) is not None


def apply(raw: Raw, path: str, obj: dict, manager: str = "tester", force: bool = False) -> tuple[int, dict]:
    # An applied empty map (cm()'s `labels: {}`) is a field of its own to kube-apiserver's SSA, owned by
    # the last forcing applier: leave it out so that only .data is contended.
    obj = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if v != {}}}
    query = f"?fieldManager={manager}" + ("&force=true" if force else "")
    return raw("PATCH", path + query, yaml.safe_dump(obj), APPLY)


def test_server_side_apply_creates_merges_and_removes(raw, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps/ssa"
    # keys y/n would be booleans to kube-apiserver's YAML 1.1 parser: use others
    status, obj = apply(raw, path, cm("ssa", x="1", w="2"))
    assert status == 201 and obj["data"] == {"x": "1", "w": "2"}
    raw("PATCH", path, {"data": {"z": "3"}}, "application/merge-patch+json")  # someone else's field
    status, obj = apply(raw, path, cm("ssa", x="1"))  # w no longer applied: removed; z is kept
    assert status == 200 and obj["data"] == {"x": "1", "z": "3"}
    rv = obj["metadata"]["resourceVersion"]
    status, obj = apply(raw, path, cm("ssa", x="1"))
    assert obj["metadata"]["resourceVersion"] == rv  # re-applying the same config changes nothing


def test_server_side_apply_conflicts_and_force(raw, ns):
    path = f"/api/v1/namespaces/{ns}/configmaps/owned"
    apply(raw, path, cm("owned", x="1"), manager="alice")
    status, body = apply(raw, path, cm("owned", x="2"), manager="bob")
    assert status == 409 and body["reason"] == "Conflict"
    assert body["details"]["causes"][0]["field"] == ".data.x"
    status, obj = apply(raw, path, cm("owned", x="2"), manager="bob", force=True)
    assert status == 200 and obj["data"] == {"x": "2"}
    status, obj = apply(raw, path, cm("owned", x="2"), manager="alice")  # same value: shared, no conflict
    assert status == 200


def test_server_side_apply_needs_field_manager(raw, ns):
    status, body = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/x", yaml.safe_dump(cm("x")), APPLY)
    assert status == 422 and body["details"]["causes"][0]["field"] == "fieldManager"


def test_server_side_apply_dry_run_creates_nothing(raw, ns, kube_hub):
    status = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/d?fieldManager=t&dryRun=All",
                 yaml.safe_dump(cm("d")), APPLY)[0]
    assert status == 201 and kube_hub.get("v1", "ConfigMap", "d", ns) is None


@pytest.mark.parametrize("method", ["update", "patch_status"])
def test_direct_store_access_acts_like_a_controller(kube_hub, ns, method):
    dep = deployment("d", ns) | {"status": {"replicas": 1}}
    created = kube_hub.create(dep)
    assert created["status"] == {"replicas": 1}
    if method == "update":
        created["status"] = {"replicas": 2}
        result = kube_hub.update(created)
    else:
        result = kube_hub.patch_status("apps/v1", "Deployment", "d", ns, {"replicas": 2})
    assert result["status"] == {"replicas": 2}
    assert int(result["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
