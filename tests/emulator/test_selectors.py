"""Label and field selectors on list, watch and deletecollection."""
from __future__ import annotations

import pytest

from kubemu.errors import ApiError
from kubemu.selectors import parse_field_selector, parse_label_selector

from .conftest import cm, own

OBJ = {"metadata": {"name": "a", "namespace": "n", "labels": {"env": "prod", "tier": "web", "n": "5"}},
       "type": "Opaque"}


@pytest.mark.parametrize("selector, expected", [
    ("env=prod", True), ("env==prod", True), ("env!=prod", False), ("env!=dev", True),
    ("env in (prod, dev)", True), ("env notin (prod,dev)", False), ("env notin (dev)", True),
    ("tier", True), ("!tier", False), ("missing", False), ("!missing", True),
    ("env=prod,tier=web", True), ("env=prod,tier=db", False), ("missing!=x", True),
    ("n>4", True), ("n<5", False), ("", True),
])
def test_label_selector_grammar(selector, expected):
    assert parse_label_selector(selector).matches(OBJ) is expected


@pytest.mark.parametrize("selector, kind, expected", [
    ("metadata.name=a", "ConfigMap", True), ("metadata.name!=a", "ConfigMap", False),
    ("metadata.namespace==n", "ConfigMap", True), ("type=Opaque", "Secret", True),
    ("metadata.name=a,metadata.namespace=other", "ConfigMap", False),
])
def test_field_selector_grammar(selector, kind, expected):
    assert parse_field_selector(selector, kind).matches(OBJ) is expected


@pytest.mark.parametrize("bad", ["env in prod", "=x", "a b"])
def test_bad_label_selector_is_400(bad):
    with pytest.raises(ApiError) as err:
        parse_label_selector(bad)
    assert err.value.code == 400


def test_unsupported_field_is_400(raw, ns):
    status, body = raw("GET", f"/api/v1/namespaces/{ns}/configmaps?fieldSelector=data.x%3Dy")
    assert status == 400 and body["reason"] == "BadRequest"


def test_selectors_over_http(core, ns):
    for name, env in (("a", "prod"), ("b", "dev"), ("c", "prod")):
        core.create_namespaced_config_map(ns, cm(name, {"env": env}))
    core.create_namespaced_secret(ns, {"metadata": {"name": "tls"}, "type": "kubernetes.io/tls",
                                       "data": {"tls.crt": "", "tls.key": ""}})

    def names(items):
        return own(sorted(i.metadata.name for i in items))

    assert names(core.list_namespaced_config_map(ns, label_selector="env in (prod)").items) == ["a", "c"]
    assert names(core.list_namespaced_config_map(ns, field_selector="metadata.name!=a").items) == ["b", "c"]
    assert names(core.list_namespaced_secret(ns, field_selector="type=kubernetes.io/tls").items) == ["tls"]
    everywhere = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={ns}")
    assert names(everywhere.items) == ["a", "b", "c"]
    core.delete_collection_namespaced_config_map(ns, label_selector="env!=prod")
    assert names(core.list_namespaced_config_map(ns).items) == ["a", "c"]
