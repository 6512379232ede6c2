"""CRUD verbs, errors as Status objects, metadata, namespaces (real `kubernetes` client over HTTPS)."""
from __future__ import annotations

import json

import pytest
from kubernetes import client

from .conftest import cm, deployment, eventually


def status_of(err: client.ApiException) -> dict:
    body = json.loads(err.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == err.status
    return body


def test_create_returns_201_with_server_metadata(raw, ns):
    status, obj = raw("POST", f"/api/v1/namespaces/{ns}/configmaps", cm("a", x="1"))
    assert status == 201
    meta = obj["metadata"]
    assert meta["namespace"] == ns and "generation" not in meta  # ConfigMaps have no generation
    assert len(meta["uid"]) == 36 and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0


def test_resource_version_is_one_global_counter(core, ns):
    a = core.create_namespaced_config_map(ns, cm("a"))
    b = core.create_namespaced_secret(ns, {"metadata": {"name": "b"}})
    c = core.patch_namespaced_config_map("a", ns, {"data": {"k": "v"}})
    rvs = [int(o.metadata.resource_version) for o in (a, b, c)]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3


def test_get_list_and_list_shape(raw, core, ns):
    core.create_namespaced_config_map(ns, cm("one"))
    core.create_namespaced_config_map(ns, cm("two"))
    assert core.read_namespaced_config_map("one", ns).metadata.name == "one"
    status, listed = raw("GET", f"/api/v1/namespaces/{ns}/configmaps")
    assert status == 200 and listed["kind"] == "ConfigMapList" and listed["apiVersion"] == "v1"
    assert int(listed["metadata"]["resourceVersion"]) >= max(
        int(i["metadata"]["resourceVersion"]) for i in listed["items"])
    assert [i["metadata"]["name"] for i in listed["items"]] == ["one", "two"]


def test_not_found_and_already_exists_are_status_objects(core, ns):
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("missing", ns)
    body = status_of(err.value)
    assert err.value.status == 404 and body["reason"] == "NotFound"
    assert body["details"] == {"name": "missing", "kind": "configmaps"}
    core.create_namespaced_config_map(ns, cm("dup"))
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map(ns, cm("dup"))
    assert err.value.status == 409 and status_of(err.value)["reason"] == "AlreadyExists"


def test_missing_namespace_is_404(core):
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("no-such-ns", cm("a"))
    body = status_of(err.value)
    assert err.value.status == 404 and body["details"]["kind"] == "namespaces"


def test_list_in_missing_namespace_is_empty(core):
    result = core.list_namespaced_config_map("no-such-ns")
    assert result.items == [] and int(result.metadata.resource_version) > 0


def test_boot_namespaces_exist_and_cannot_be_deleted(core):
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public"} <= names
    with pytest.raises(client.ApiException) as err:
        core.delete_namespace("kube-system")
    assert err.value.status == 403 and status_of(err.value)["reason"] == "Forbidden"


def test_put_replaces_and_bumps_generation(core, ns):
    created = core.create_namespaced_config_map(ns, cm("a", x="1"))
    created.data = {"y": "2"}
    updated = core.replace_namespaced_config_map("a", ns, created)
    assert updated.data == {"y": "2"} and updated.metadata.uid == created.metadata.uid
    assert updated.metadata.generation is None  # no generation on ConfigMaps, even after a change
    apps = client.AppsV1Api(core.api_client)
    dep = apps.create_namespaced_deployment(ns, deployment("d"))
    assert dep.metadata.generation == 1
    dep.spec.replicas = 2
    assert apps.replace_namespaced_deployment("d", ns, dep).metadata.generation == 2


def test_put_with_stale_resource_version_is_conflict(core, ns):
    first = core.create_namespaced_config_map(ns, cm("a", x="1"))
    core.patch_namespaced_config_map("a", ns, {"data": {"x": "2"}})
    first.data = {"x": "3"}
    with pytest.raises(client.ApiException) as err:
        core.replace_namespaced_config_map("a", ns, first)
    assert err.value.status == 409 and status_of(err.value)["reason"] == "Conflict"


def test_merge_patch_with_stale_resource_version_is_conflict(raw, core, ns):
    first = core.create_namespaced_config_map(ns, cm("a", x="1"))
    core.patch_namespaced_config_map("a", ns, {"data": {"x": "2"}})
    status, body = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/a",
                       {"metadata": {"resourceVersion": first.metadata.resource_version}, "data": {"x": "3"}},
                       "application/merge-patch+json")
    assert status == 409 and body["reason"] == "Conflict"


def test_metadata_only_change_keeps_generation(core, ns):
    apps = client.AppsV1Api(core.api_client)
    apps.create_namespaced_deployment(ns, deployment("d"))
    labelled = apps.patch_namespaced_deployment("d", ns, {"metadata": {"labels": {"k": "v"}}})
    assert labelled.metadata.generation == 1 and labelled.metadata.labels["k"] == "v"


def test_noop_write_keeps_resource_version(core, ns):
    created = core.create_namespaced_config_map(ns, cm("a", x="1"))
    again = core.patch_namespaced_config_map("a", ns, {"data": {"x": "1"}})
    assert again.metadata.resource_version == created.metadata.resource_version


def test_merge_patch_null_deletes(raw, ns):
    raw("POST", f"/api/v1/namespaces/{ns}/configmaps", cm("a", x="1", y="2"))
    status, obj = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/a", {"data": {"x": None}},
                      "application/merge-patch+json")
    assert status == 200 and obj["data"] == {"y": "2"}


def test_json_patch_ops_and_failed_test(raw, ns):
    raw("POST", f"/api/v1/namespaces/{ns}/configmaps", cm("a", x="1"))
    ops = [{"op": "add", "path": "/data/y", "value": "2"}, {"op": "remove", "path": "/data/x"},
           {"op": "add", "path": "/metadata/labels", "value": {"a~b/c": "d"}},
           {"op": "test", "path": "/metadata/labels/a~0b~1c", "value": "d"}]
    status, obj = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/a", ops, "application/json-patch+json")
    assert status == 200 and obj["data"] == {"y": "2"} and obj["metadata"]["labels"] == {"a~b/c": "d"}
    status, body = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/a",
                       [{"op": "test", "path": "/data/y", "value": "other"}], "application/json-patch+json")
    assert status == 422 and body["kind"] == "Status"


def test_strategic_merge_is_merge_on_builtins(core, ns):
    core.create_namespaced_config_map(ns, cm("a", x="1"))
    patched = core.patch_namespaced_config_map("a", ns, {"data": {"y": "2"}})  # client default: strategic
    assert patched.data == {"x": "1", "y": "2"}


def test_strategic_merge_on_custom_resource_is_415(raw, ns, kube_require_crds):
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": "p"}, "spec": {}}
    assert raw("POST", f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/appprojects", app)[0] == 201
    status, body = raw("PATCH", f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/appprojects/p",
                       {"spec": {"description": "x"}}, "application/strategic-merge-patch+json")
    assert status == 415 and body["reason"] == "UnsupportedMediaType"
    status, obj = raw("PATCH", f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/appprojects/p",
                      {"spec": {"description": "x"}}, "application/merge-patch+json")
    assert status == 200 and obj["spec"]["description"] == "x"


def test_delete_and_deletecollection(core, ns):
    for name in ("a", "b", "c"):
        core.create_namespaced_config_map(ns, cm(name, {"grp": "x" if name != "c" else "y"}))
    deleted = core.delete_namespaced_config_map("a", ns)
    assert deleted.status == "Success" and deleted.details.name == "a"
    core.delete_collection_namespaced_config_map(ns, label_selector="grp=x")
    assert [c.metadata.name for c in core.list_namespaced_config_map(ns).items] == ["c"]
    with pytest.raises(client.ApiException) as err:
        core.delete_namespaced_config_map("a", ns)
    assert err.value.status == 404


def test_generate_name_and_invalid_name(core, ns):
    made = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "gen-"}})
    assert made.metadata.name.startswith("gen-") and len(made.metadata.name) == len("gen-") + 5
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map(ns, cm("Not_Valid"))
    body = status_of(err.value)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"


def test_deleting_a_namespace_deletes_its_objects(kube_hub, core):
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", cm("a"))
    assert core.read_namespace("doomed").status.phase == "Active"
    assert eventually(lambda: [s.metadata.name for s in core.list_namespaced_service_account("doomed").items]) \
        == ["default"]
    core.delete_namespace("doomed")
    assert eventually(lambda: kube_hub.get("v1", "Namespace", "doomed") is None, timeout=60)
    assert kube_hub.get("v1", "ConfigMap", "a", "doomed") is None


def test_dynamic_client_crud_on_custom_resource(dyn, ns, kube_require_crds):
    projects = dyn.resources.get(api_version="argoproj.io/v1alpha1", kind="AppProject")
    body = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": "p", "namespace": ns},
            "spec": {"sourceRepos": ["*"]}}
    created = projects.create(body=body, namespace=ns)
    assert created.metadata.generation == 1
    got = projects.get(name="p", namespace=ns)
    assert got.spec.sourceRepos == ["*"]
    patched = projects.patch(name="p", namespace=ns, body={"spec": {"description": "d"}},
                             content_type="application/merge-patch+json")
    assert patched.metadata.generation == 2
    assert [i.metadata.name for i in projects.get(namespace=ns).items] == ["p"]
    projects.delete(name="p", namespace=ns)
    assert projects.get(namespace=ns).items == []


def test_multi_version_crd_serves_one_object_under_each_version(custom, ns, kube_require_crds):
    body = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "metadata": {"name": "c1"}, "spec": {}}
    custom.create_namespaced_custom_object("cluster.x-k8s.io", "v1beta2", ns, "clusters", body)
    old = custom.get_namespaced_custom_object("cluster.x-k8s.io", "v1beta1", ns, "clusters", "c1")
    assert old["apiVersion"] == "cluster.x-k8s.io/v1beta1" and old["metadata"]["name"] == "c1"
