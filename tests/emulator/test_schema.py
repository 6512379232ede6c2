"""Custom resources are validated against their CRD version's openAPIV3Schema (422 Invalid)."""
from __future__ import annotations

import pytest

from kubemu.schema import validate_custom_resource

from .conftest import Raw, eventually
from .test_discovery import widget_crd

SCHEMA = widget_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def widget(spec: dict, **extra) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec, **extra}


@pytest.mark.parametrize("spec, field, reason", [
    ({}, "spec.size", "FieldValueRequired"),
    ({"size": "big"}, "spec.size", "FieldValueTypeInvalid"),
    ({"size": True}, "spec.size", "FieldValueTypeInvalid"),
    ({"size": 0}, "spec.size", "FieldValueInvalid"),
    ({"size": 1, "color": "green"}, "spec.color", "FieldValueNotSupported"),
    ({"size": 1, "port": 1.5}, "spec.port", "FieldValueTypeInvalid"),
    ({"size": 1, "unknown": 1}, "spec.unknown", "FieldValueInvalid"),
])
def test_invalid_objects(spec, field, reason):
    causes = validate_custom_resource(widget(spec), SCHEMA)
    assert [(c.field, c.reason) for c in causes] == [(field, reason)]


@pytest.mark.parametrize("spec", [
    {"size": 1, "port": 80}, {"size": 1, "port": "http"},
    {"size": 1, "extra": {"anything": {"goes": [1]}}},
    {"size": 1, "template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}},
])
def test_valid_objects(spec):
    assert validate_custom_resource(widget(spec), SCHEMA) == []


def test_defaults_and_null_pruning():
    obj = widget({"size": 1, "color": None})
    assert validate_custom_resource(obj, SCHEMA) == []
    assert obj["spec"]["color"] == "red"


def test_unknown_top_level_field_rejected_metadata_allowed():
    causes = validate_custom_resource(widget({"size": 1}, bogus=1), SCHEMA)
    assert [c.field for c in causes] == ["bogus"]


def test_invalid_status_shape_over_http(kube_server_factory):
    srv = kube_server_factory("schema")
    raw = Raw(srv)
    assert raw("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widget_crd())[0] == 201
    assert eventually(lambda: raw("GET", "/apis/example.com/v1/namespaces/default/widgets")[0] == 200)
    status, body = raw("POST", "/apis/example.com/v1/namespaces/default/widgets",
                       widget({"size": "x", "color": "green"}))
    assert status == 422 and body["reason"] == "Invalid" and body["code"] == 422
    assert body["details"]["kind"] == "Widget" and body["details"]["group"] == "example.com"
    assert {(c["field"], c["reason"]) for c in body["details"]["causes"]} == {
        ("spec.size", "FieldValueTypeInvalid"), ("spec.color", "FieldValueNotSupported")}
    assert body["message"].startswith('Widget.example.com "w" is invalid: [')
    status, obj = raw("POST", "/apis/example.com/v1/namespaces/default/widgets", widget({"size": 2}))
    assert status == 201 and obj["spec"]["color"] == "red"
    status, body = raw("PATCH", "/apis/example.com/v1/namespaces/default/widgets/w", {"spec": {"size": -1}},
                       "application/merge-patch+json")
    assert status == 422
    status, obj = raw("PATCH", "/apis/example.com/v1/namespaces/default/widgets/w/status",
                      {"status": {"ready": "yes"}}, "application/merge-patch+json")
    assert status == 422


def test_real_crds_accept_valid_and_reject_invalid(raw, ns, kube_require_crds):
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "a"},
           "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc"},
                    "source": {"repoURL": "https://example.com/repo.git", "path": ".", "targetRevision": "HEAD"}}}
    assert raw("POST", f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/applications", app)[0] == 201
    bad = {**app, "metadata": {"name": "b"}, "spec": {"destination": {}}}
    status, body = raw("POST", f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/applications", bad)
    assert status == 422 and "spec.project" in {c["field"] for c in body["details"]["causes"]}
    policy = {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "p"},
              "spec": {"rules": [{"name": "r", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                                  "validate": {"message": "m", "pattern": {"metadata": {"labels": {"a": "?*"}}}}}]}}
    status, body = raw("POST", "/apis/kyverno.io/v1/clusterpolicies", policy)
    assert status == 201, body
    raw("DELETE", "/apis/kyverno.io/v1/clusterpolicies/p")
