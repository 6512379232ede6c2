"""Discovery documents: /version, /api, /api/v1, /apis, /apis/<group>[/<version>]."""
from __future__ import annotations

import pytest
from kubernetes import client

from kubemu import KubeServer

from .conftest import Raw, api_client_for, eventually

BUILTINS = {
    "v1": {"namespaces", "secrets", "configmaps", "services", "serviceaccounts", "pods", "events"},
    "apps/v1": {"deployments", "statefulsets", "daemonsets"},
    "rbac.authorization.k8s.io/v1": {"roles", "rolebindings", "clusterroles", "clusterrolebindings"},
    "networking.k8s.io/v1": {"ingresses", "ingressclasses"},
    "apiextensions.k8s.io/v1": {"customresourcedefinitions"},
    "admissionregistration.k8s.io/v1": {"validatingwebhookconfigurations"},
    "coordination.k8s.io/v1": {"leases"},
}


def get(raw: Raw, path: str) -> dict:
    status, data = raw("GET", path)
    assert status == 200, data
    return data


def test_version(raw):
    info = get(raw, "/version")
    assert info["major"] == "1" and info["gitVersion"].startswith("v1.")


def test_core_versions(raw):
    assert get(raw, "/api")["versions"] == ["v1"]


@pytest.mark.parametrize("group_version, plurals", sorted(BUILTINS.items()))
def test_builtin_resources_are_listed(raw, group_version, plurals):
    path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    doc = get(raw, path)
    assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == group_version
    names = {r["name"] for r in doc["resources"]}
    assert plurals <= names
    for entry in doc["resources"]:
        if entry["name"] in plurals:  # others may serve fewer verbs (bindings: create only)
            assert {"name", "singularName", "namespaced", "kind", "verbs"} <= set(entry)
            assert {"get", "list", "watch", "create", "update", "patch", "delete"} <= set(entry["verbs"])


def test_namespaces_entry_and_status_subresource(raw):
    resources = {r["name"]: r for r in get(raw, "/api/v1")["resources"]}
    assert resources["namespaces"]["namespaced"] is False
    assert resources["namespaces"]["shortNames"] == ["ns"]
    assert resources["secrets"]["namespaced"] is True
    assert "namespaces/status" in resources and "secrets/status" not in resources


def test_group_list_and_group(raw):
    groups = {g["name"]: g for g in get(raw, "/apis")["groups"]}
    assert {"apps", "rbac.authorization.k8s.io", "apiextensions.k8s.io"} <= set(groups)
    apps = get(raw, "/apis/apps")
    assert apps["kind"] == "APIGroup" and apps["preferredVersion"]["groupVersion"] == "apps/v1"


def test_crd_discovery_with_status_and_versions(raw, kube_require_crds):
    groups = {g["name"]: g for g in get(raw, "/apis")["groups"]}
    cluster = groups["cluster.x-k8s.io"]
    assert cluster["preferredVersion"]["version"] == "v1beta2"  # the storage version comes first
    assert {v["version"] for v in cluster["versions"]} >= {"v1beta1", "v1beta2"}
    resources = {r["name"]: r for r in get(raw, "/apis/cluster.x-k8s.io/v1beta2")["resources"]}
    assert resources["clusters"]["kind"] == "Cluster" and resources["clusters"]["singularName"] == "cluster"
    assert "clusters/status" in resources
    kyverno = {r["name"]: r for r in get(raw, "/apis/kyverno.io/v1")["resources"]}
    assert kyverno["clusterpolicies"]["namespaced"] is False
    assert "cpol" in kyverno["clusterpolicies"]["shortNames"]


def test_unknown_group_is_404(raw):
    status, body = raw("GET", "/apis/nope.example.com/v1")
    assert status == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"


def widget_crd(group: str = "example.com") -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                 "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "required": ["size"], "properties": {
                                       "size": {"type": "integer", "minimum": 1},
                                       "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                                       "port": {"x-kubernetes-int-or-string": True},
                                       "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                       "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                                                    "x-kubernetes-preserve-unknown-fields": True},
                                   }},
                                   "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
                               }}}}]},
    }


def test_crd_created_through_the_api_is_discoverable_at_once(kube_server_factory):
    srv: KubeServer = kube_server_factory("disc")
    api = api_client_for(srv.kubeconfig_dict())
    raw = Raw(srv)
    ext = client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(widget_crd())

    def established() -> bool:
        crd = ext.read_custom_resource_definition("widgets.example.com")
        return {c.type: c.status for c in crd.status.conditions or []}.get("Established") == "True"

    assert eventually(established)  # kubemu: at once; kube-apiserver: its establishing controller, a moment later
    resources = {r["name"] for r in get(raw, "/apis/example.com/v1")["resources"]}
    assert resources == {"widgets", "widgets/status"}
    ext.delete_custom_resource_definition("widgets.example.com")
    assert eventually(lambda: raw("GET", "/apis/example.com/v1")[0] == 404)
