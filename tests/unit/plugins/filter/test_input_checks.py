"""Filters of plugins/filter/input_checks.py.

Label rules: kubernetes/apimachinery @ v0.34.10 : pkg/util/validation/validation.go (IsQualifiedName,
IsDNS1123Subdomain, IsValidLabelValue) and pkg/apis/meta/v1/validation/validation.go (ValidateLabelSelector,
ValidateLabelSelectorRequirement).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.multicluster.gitops.plugins.filter import input_checks
from ansible_collections.multicluster.gitops.plugins.filter.input_checks import (
    FilterModule,
    label_errors,
    label_key_errors,
    label_selector_errors,
    unknown_key_errors,
)

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.parametrize("key", [
    "env", "Env", "a", "my.name_x-1", "x" * 63, "example.com/env", "multicluster.gitops/registered",
    f"{'a' * 253}/n", "k8s.io/MyName",
])
def test_valid_label_keys(key):
    """Upstream: kubernetes/apimachinery @ v0.34.10 : pkg/util/validation/validation.go (IsQualifiedName)."""
    assert label_errors({key: "v"}, "l") == []


@pytest.mark.parametrize("key,part", [
    ("Bad Key!", "invalid name"), ("-env", "invalid name"), ("env-", "invalid name"), ("x" * 64, "invalid name"),
    ("", "empty name"), ("example.com/", "empty name"), ("/env", "empty prefix"), ("Example.com/env", "invalid prefix"),
    ("a_b.com/env", "invalid prefix"), (f"{'a' * 254}/n", "invalid prefix"), ("a/b/c", "more than one '/'"),
    (3, "must be a string"),
])
def test_invalid_label_keys(key, part):
    """Upstream: kubernetes/apimachinery @ v0.34.10 : pkg/util/validation/validation.go (IsQualifiedName,
    IsDNS1123Subdomain: prefix at most 253, lower-case labels separated by dots)."""
    errors = label_errors({key: "v"}, "clusters[0].labels")
    assert len(errors) == 1 and part in errors[0] and errors[0].startswith("clusters[0].labels: "), errors


@pytest.mark.parametrize("value", ["", "prod", "A.b_c-1", "x" * 63])
def test_valid_label_values(value):
    """Upstream: kubernetes/apimachinery @ v0.34.10 : pkg/util/validation/validation.go (IsValidLabelValue)."""
    assert label_errors({"env": value}) == []


@pytest.mark.parametrize("value", ["x" * 64, "-prod", "prod_", "a b", "é", "prod\n", True, 3, None])
def test_invalid_label_values(value):
    """Upstream: kubernetes/apimachinery @ v0.34.10 : pkg/util/validation/validation.go (IsValidLabelValue)."""
    errors = label_errors({"env": value}, "l")
    assert len(errors) == 1 and "label env" in errors[0], errors


@pytest.mark.parametrize("value,name", [(True, "boolean"), (3, "number"), (1.5, "number"), (None, "null"),
                                        (["a"], "list"), ({"a": 1}, "mapping")])
def test_non_string_values_are_named_by_their_yaml_type(value, name):
    assert label_errors({"env": value}, "l") == [f"l: label env has a {name} value {value!r}; label values are strings (quote it)"]


def test_label_errors_needs_a_mapping():
    assert label_errors(["env"], "x.labels") == ["x.labels must be a mapping of label keys to values, not list"]


def test_label_key_errors():
    assert label_key_errors(["env", "region"], "k") == []
    errors = label_key_errors(["env", "Bad Key!"], "appsets_cluster_labels")
    assert len(errors) == 1 and "'Bad Key!'" in errors[0] and errors[0].startswith("appsets_cluster_labels: ")
    assert label_key_errors("env", "k") == ["k must be a list of label keys, not string"]


@pytest.mark.parametrize("selector", [
    {"matchLabels": {"env": "prod"}},
    {"matchExpressions": [{"key": "env", "operator": "In", "values": ["test", "prod"]}]},
    {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]},
    {"matchExpressions": [{"key": "tier", "operator": "Exists"}, {"key": "x", "operator": "DoesNotExist", "values": []}]},
    {"matchLabels": {}, "matchExpressions": []},
])
def test_valid_selectors(selector):
    """Upstream: kubernetes/apimachinery @ v0.34.10 : pkg/apis/meta/v1/validation/validation.go (ValidateLabelSelector)."""
    assert label_selector_errors(selector, "s") == []


@pytest.mark.parametrize("selector,part", [
    ({"matchExpressions": [{"key": "env", "operator": "In"}]}, "values must not be empty when operator is In"),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": []}]}, "values must not be empty when operator is NotIn"),
    ({"matchExpressions": [{"key": "env", "operator": "Exists", "values": ["a"]}]}, "values must not be given when operator is Exists"),
    ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist", "values": ["a"]}]}, "must not be given when operator is DoesNotExist"),
    ({"matchExpressions": [{"key": "env", "operator": "in", "values": ["a"]}]}, "operator 'in' is not one of"),
    ({"matchExpressions": [{"key": "Bad Key!", "operator": "Exists"}]}, "matchExpressions[0].key: label key 'Bad Key!'"),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["ok", "not ok"]}]}, "matchExpressions[0].values[1]"),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": "prod"}]}, "values must be a list"),
    ({"matchExpressions": [{"key": "env", "operator": "Exists", "value": "x"}]}, "unknown key 'value' (did you mean 'values'?)"),
    ({"matchExpressions": {"key": "env"}}, "matchExpressions must be a list"),
    ({"matchLabels": {"Bad Key!": "x"}}, "s.matchLabels: label key 'Bad Key!'"),
    ({"matchlabels": {"env": "x"}}, "unknown key 'matchlabels' (did you mean 'matchLabels'?)"),
    ("env=prod", "must be a label selector mapping"),
])
def test_invalid_selectors(selector, part):
    """Upstream: kubernetes/apimachinery @ v0.34.10 : pkg/apis/meta/v1/validation/validation.go
    (ValidateLabelSelectorRequirement: In/NotIn need values, Exists/DoesNotExist take none, other operators rejected)."""
    errors = label_selector_errors(selector, "s")
    assert any(part in e for e in errors), errors
    assert all(e.startswith("s") for e in errors), errors


SCHEMA = {
    "name": None,
    "workers": {"count": None, "shape": None},
    "network": {"vcn_id": None, "subnets": {"*": {"id": None, "type": None}}},
    "labels": {"*": None},
    "steps": [{"match_labels": None}],
}


def test_unknown_keys_accepts_allowed_nested_keys():
    data = {"name": "a", "workers": {"count": 1}, "network": {"subnets": {"worker": {"id": "x"}, "pod": "ocid"}},
            "labels": {"anything": "x"}, "steps": [{"match_labels": {"env": ["a"]}}]}
    assert unknown_key_errors(data, SCHEMA, "c[0] (a)") == []


@pytest.mark.parametrize("data,message", [
    ({"name": "a", "worker": {}},
     "c[0] has an unknown key 'worker' (did you mean 'workers'?); allowed keys: labels, name, network, steps, workers"),
    ({"workers": {"cont": 1}},
     "c[0].workers has an unknown key 'cont' (did you mean 'count'?); allowed keys: count, shape"),
    ({"network": {"subnets": {"worker": {"id": "x", "typ": "Public"}}}},
     "c[0].network.subnets.worker has an unknown key 'typ' (did you mean 'type'?); allowed keys: id, type"),
    ({"steps": [{"match_labels": {}}, {"matchLabels": {}}]},
     "c[0].steps[1] has an unknown key 'matchLabels' (did you mean 'match_labels'?); allowed keys: match_labels"),
    ({"zzz": 1}, "c[0] has an unknown key 'zzz'; allowed keys: labels, name, network, steps, workers"),
])
def test_unknown_keys_are_named_with_where_and_allowed(data, message):
    assert unknown_key_errors(data, SCHEMA, "c[0]") == [message]


def test_unknown_keys_leaves_type_errors_to_other_checks():
    assert unknown_key_errors({"workers": "big", "steps": {"a": 1}}, SCHEMA, "c") == []
    assert unknown_key_errors("text", SCHEMA, "c") == []


def test_unknown_keys_rejects_a_bad_schema():
    with pytest.raises(input_checks.AnsibleFilterError):
        unknown_key_errors([1], [{}, {}], "c")
    with pytest.raises(input_checks.AnsibleFilterError):
        unknown_key_errors({}, "name", "c")


def test_every_filter_is_documented():
    """Each filter (of every filter plugin of the collection) has a documentation file beside the plugin, and
    ansible-doc reads it."""
    from ansible_collections.multicluster.gitops.plugins.filter.ownership import FilterModule as OwnershipFilters

    names = sorted([*FilterModule().filters(), *OwnershipFilters().filters()])
    assert names == sorted(p.stem for p in (ROOT / "plugins" / "filter").glob("*.yml"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / ".cache" / "collections")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "-t", "filter", "--json",
                           *(f"multicluster.gitops.{n}" for n in names)],
                          env=env, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    for name in names:
        assert f'"multicluster.gitops.{name}"' in proc.stdout, name
