"""TLS, bearer tokens, client certificates, several independent servers."""
from __future__ import annotations

import ssl

import pytest
import urllib3
from kubernetes import client

from .conftest import Raw, api_client_for


def test_wrong_token_is_401(kube_hub):
    status, body = Raw(kube_hub, token="wrong")("GET", "/api/v1/namespaces")
    assert status == 401 and body["kind"] == "Status" and body["reason"] == "Unauthorized"


@pytest.mark.kubemu_only("kube-apiserver treats a request without credentials as system:anonymous "
                         "(--anonymous-auth defaults to true), which RBAC then answers with 403")
def test_missing_token_is_401(kube_hub):
    status, body = Raw(kube_hub, token="")("GET", "/api/v1/namespaces")
    assert status == 401 and body["kind"] == "Status" and body["reason"] == "Unauthorized"


def test_client_certificate_kubeconfig(kube_hub):
    api = api_client_for(kube_hub.kubeconfig_dict(client_cert=True, context="certs"))
    names = {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
    assert "default" in names


@pytest.mark.kubemu_only("kube-apiserver requests a client certificate without verifying it in the TLS "
                         "handshake; one of another CA is refused with 401 (tests/engines::"
                         "test_two_servers_are_independent_and_stop_cleanly)")
def test_certificate_of_another_ca_is_rejected(kube_server_factory, kube_hub):
    other = kube_server_factory("other")
    config = other.kubeconfig_dict(client_cert=True)
    config["clusters"][0]["cluster"]["server"] = kube_hub.url
    config["clusters"][0]["cluster"]["certificate-authority-data"] = \
        kube_hub.kubeconfig_dict()["clusters"][0]["cluster"]["certificate-authority-data"]
    # The TLS layer refuses the handshake: no HTTP answer at all (TLS 1.3 reports it as a closed connection).
    with pytest.raises(urllib3.exceptions.MaxRetryError) as err:
        client.CoreV1Api(api_client_for(config)).list_namespace(_request_timeout=5)
    assert isinstance(err.value.reason, (urllib3.exceptions.SSLError, urllib3.exceptions.ProtocolError))


def test_server_certificate_verifies_against_its_ca_only(kube_server_factory):
    one, two = kube_server_factory("one"), kube_server_factory("two")
    assert one.url != two.url and one.ca_pem != two.ca_pem
    wrong = Raw(one)
    wrong.srv = type("S", (), {"url": two.url, "ca_pem": one.ca_pem})()
    with pytest.raises(ssl.SSLError):
        wrong("GET", "/version")


def test_servers_are_independent(kube_server_factory):
    one, two = kube_server_factory("one"), kube_server_factory("two")
    one.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "only-one", "namespace": "default"}})
    assert one.get("v1", "ConfigMap", "only-one", "default") is not None
    assert two.get("v1", "ConfigMap", "only-one", "default") is None
    assert Raw(two, token=one.admin_token)("GET", "/api/v1/namespaces")[0] == 401


@pytest.mark.kubemu_only("kube-apiserver serves HTTPS only (the insecure port was removed in v1.20)")
def test_plain_http_server(kube_server_factory):
    srv = kube_server_factory("plain", tls=False)
    assert srv.url.startswith("http://")
    assert Raw(srv)("GET", "/api/v1/namespaces")[0] == 200


@pytest.mark.kubemu_only("request counters are a kubemu test hook")
def test_request_counters(kube_server_factory):
    srv = kube_server_factory("count")
    raw = Raw(srv)
    raw("GET", "/api/v1/namespaces")
    raw("GET", "/api/v1/namespaces/default/secrets")
    raw("GET", "/api/v1/namespaces/default/secrets")
    assert srv.requests[("GET", "secrets")] == 2 and srv.requests[("GET", "namespaces")] == 1
    srv.reset_counters()
    assert sum(srv.requests.values()) == 0
