"""The Kubernetes client factory: paths, precedence of connection settings, error mapping."""
from __future__ import annotations

import json

import pytest
import yaml

from ansible_collections.multicluster.gitops.plugins.module_utils import _k8s_client as kc
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError, ConfigError


@pytest.mark.parametrize("res, ns, name, sub, expected", [
    (kc.SECRET, "argocd", "c1", None, "/api/v1/namespaces/argocd/secrets/c1"),
    (kc.SECRET, None, None, None, "/api/v1/secrets"),
    (kc.NAMESPACE, "ignored", "argocd", None, "/api/v1/namespaces/argocd"),
    (kc.CLUSTER_ROLE, None, "r", None, "/apis/rbac.authorization.k8s.io/v1/clusterroles/r"),
    (kc.Resource("cluster.x-k8s.io", "v1beta2", "clusters", "Cluster"), "dev", "c1", "status",
     "/apis/cluster.x-k8s.io/v1beta2/namespaces/dev/clusters/c1/status"),
])
def test_resource_path(res, ns, name, sub, expected):
    assert res.path(ns, name, sub) == expected


def _kubeconfig(server: str, token: str = "t0k3n") -> dict:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "ctx",
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
    }


def _params(**kw):
    base = {k: None for k in kc.K8S_AUTH_ARG_SPEC}
    base.update(kw)
    return base


def test_host_wins_over_kubeconfig(tmp_path):
    path = tmp_path / "kc.yaml"
    path.write_text(yaml.safe_dump(_kubeconfig("https://from-kubeconfig:6443")))
    api = kc.api_client_from_params(_params(host="https://explicit:6443", api_key="abc", kubeconfig=str(path)))
    assert api.host == "https://explicit:6443"
    assert api.conn.credentials.header() == "Bearer abc"


def test_kubeconfig_dict_and_file(tmp_path):
    api = kc.api_client_from_params(_params(kubeconfig=_kubeconfig("https://dict:6443")))
    assert api.host == "https://dict:6443"
    path = tmp_path / "kc.yaml"
    path.write_text(yaml.safe_dump(_kubeconfig("https://file:6443")))
    api = kc.api_client_from_params(_params(kubeconfig=str(path)))
    assert api.host == "https://file:6443"


def test_env_kubeconfig_used_when_option_absent(tmp_path, monkeypatch):
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(_kubeconfig("https://env:6443")))
    monkeypatch.setenv("KUBECONFIG", str(path))
    assert kc.api_client_from_params(_params()).host == "https://env:6443"


def test_missing_kubeconfig_file_says_what_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        kc.api_client_from_params(_params(kubeconfig=str(tmp_path / "nope.yaml")))


def test_nothing_configured_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="kubeconfig"):
        kc.api_client_from_params(_params())


def test_validate_certs_and_ca_override(tmp_path, monkeypatch):
    monkeypatch.setattr(kc, "ssl_context", lambda conn: None)  # /etc/ca.pem is not read here
    api = kc.api_client_from_params(_params(kubeconfig=_kubeconfig("https://x:6443"), validate_certs=True,
                                            ca_cert="/etc/ca.pem"))
    assert api.conn.verify is True
    assert api.conn.ca_file == "/etc/ca.pem"


class _FailingApi:
    host = "https://h"

    def __init__(self, status, body):
        self.status, self.body = status, body

    def send(self, *a, **kw):
        raise kc.HttpStatusError(self.status, "Reason", self.body)


def test_api_error_carries_status_and_message():
    body = json.dumps({"kind": "Status", "message": 'secrets "x" is forbidden', "reason": "Forbidden", "code": 403})
    client = kc.KubeClient(_FailingApi(403, body))
    with pytest.raises(ApiError) as info:
        client.list(kc.SECRET, "argocd")
    assert info.value.status == 403
    assert "forbidden" in info.value.msg
    assert info.value.body["reason"] == "Forbidden"


def test_get_and_delete_return_none_on_404():
    client = kc.KubeClient(_FailingApi(404, "{}"))
    assert client.get(kc.SECRET, "x", "ns") is None
    assert client.delete(kc.SECRET, "x", "ns") is None
