"""Fixtures of kubemu's conformance suite: real `kubernetes` clients against the session hub."""
from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from kubernetes import client, config, dynamic

from kubemu import KubeServer


def api_client_for(kubeconfig: Path | str | dict[str, Any]) -> client.ApiClient:
    if isinstance(kubeconfig, dict):
        return config.new_client_from_config_dict(kubeconfig)
    return config.new_client_from_config(str(kubeconfig))


@pytest.fixture(scope="session")
def hub_api(kube_hub_kubeconfig: Path) -> Iterator[client.ApiClient]:
    api = api_client_for(kube_hub_kubeconfig)
    yield api
    api.close()


@pytest.fixture(scope="session")
def core(hub_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(hub_api)


@pytest.fixture(scope="session")
def custom(hub_api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(hub_api)


@pytest.fixture(scope="session")
def dyn(hub_api: client.ApiClient) -> dynamic.DynamicClient:
    return dynamic.DynamicClient(hub_api)


@pytest.fixture
def ns(kube_hub: KubeServer) -> Iterator[str]:
    """A fresh namespace per test (deleted afterwards with everything in it)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube_hub.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    kube_hub.delete("v1", "Namespace", name)


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": data}


class Raw:
    """Plain HTTPS requests to a server (status code + decoded JSON), for what clients hide."""

    def __init__(self, srv: KubeServer, token: str | None = None) -> None:
        self.srv = srv
        self.token = srv.admin_token if token is None else token

    def connection(self, timeout: float = 10) -> http.client.HTTPConnection:
        parsed = urllib.parse.urlsplit(self.srv.url)
        if parsed.scheme == "http":
            return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
        ctx = ssl.create_default_context(cadata=self.srv.ca_pem.decode())
        return http.client.HTTPSConnection(parsed.hostname, parsed.port, context=ctx, timeout=timeout)

    def headers(self, content_type: str = "application/json") -> dict[str, str]:
        out = {"Content-Type": content_type, "Accept": "application/json"}
        if self.token:
            out["Authorization"] = f"Bearer {self.token}"
        return out

    def __call__(self, method: str, path: str, body: Any = None,
                 content_type: str = "application/json") -> tuple[int, Any]:
        conn = self.connection()
        try:
            payload = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
            conn.request(method, path, body=payload, headers=self.headers(content_type))
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw.strip().startswith(b"{") else raw.decode())
        finally:
            conn.close()

    def watch(self, path: str, timeout: float = 10) -> Iterator[dict[str, Any]]:
        """Yield watch events until the server ends the stream."""
        conn = self.connection(timeout)
        try:
            conn.request("GET", path, headers=self.headers())
            resp = conn.getresponse()
            assert resp.status == 200, resp.read()
            while line := resp.readline():
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()


@pytest.fixture
def raw(kube_hub: KubeServer) -> Raw:
    return Raw(kube_hub)
