"""Fixtures of kubemu's conformance suite: real `kubernetes` clients against the session hub.

Differential conformance: every test that asks for ``kube_hub`` or ``kube_server_factory`` runs twice,
against kubemu (``[kubemu]``) and against a real kube-apiserver built here (``[real]``, marker
``engines``; skipped when `python -m realengines build kube` has not run, failed then with
MCG_ENGINES_REQUIRED=1). The real server is the oracle; both get the same CRDs (``kube_crd_dir``).
A test that only makes sense on kubemu carries ``@pytest.mark.kubemu_only("why")`` and is skipped
on ``[real]`` with that reason (docs/emulator.md, "Differences from the real kube-apiserver").
"""
from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from kubernetes import client, config, dynamic

from kubemu import KubeServer
from realengines.crds import install_crds
from realengines.pytest_plugin import start_server

from .real_adapter import RealServer

SERVER_KINDS = ["kubemu", pytest.param("real", marks=pytest.mark.engines)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("kubemu_only")
        callspec = getattr(item, "callspec", None)
        if marker and callspec and callspec.params.get("server_kind") == "real":
            item.add_marker(pytest.mark.skip(reason=f"kubemu only: {marker.args[0]}"))


@pytest.fixture(scope="session", params=SERVER_KINDS)
def server_kind(request: pytest.FixtureRequest) -> str:
    """``kubemu`` or ``real``: which server the suite's fixtures start."""
    return request.param


@pytest.fixture(scope="session")
def kube_hub(server_kind: str, kube_crd_dir: Path | None) -> Iterator[KubeServer | RealServer]:
    if server_kind == "kubemu":
        server = KubeServer(name="hub", crd_dir=kube_crd_dir, tls=True).start()
        try:
            yield server
        finally:
            server.stop()
        return
    real = start_server("emulator-hub")
    try:
        if kube_crd_dir is not None:
            install_crds(real, [kube_crd_dir], timeout=120)
        yield RealServer(real)
    finally:
        real.stop()


@pytest.fixture
def kube_server_factory(server_kind: str) -> Iterator[Any]:
    """``factory(name, crd_dir=None, tls=True)``: a fresh server of the session's kind per call."""
    started: list[Any] = []

    def factory(name: str, crd_dir: str | Path | None = None, tls: bool = True) -> KubeServer | RealServer:
        if server_kind == "kubemu":
            server: Any = KubeServer(name=name, crd_dir=crd_dir, tls=tls).start()
            started.append(server)
            return server
        assert tls, "kube-apiserver serves HTTPS only: mark the test kubemu_only"
        real = start_server(f"emulator-{name}", controller_manager=False)
        started.append(real)
        if crd_dir is not None:
            install_crds(real, [crd_dir], timeout=120)
        return RealServer(real)

    yield factory
    for server in reversed(started):
        server.stop()


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


def deployment(name: str, namespace: str | None = None, replicas: int = 1, **labels: str) -> dict[str, Any]:
    """A Deployment the real API server accepts (selector and pod template are required)."""
    match = {"app": name}
    meta: dict[str, Any] = {"name": name, "labels": {**match, **labels}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": replicas, "selector": {"matchLabels": match},
                     "template": {"metadata": {"labels": match},
                                  "spec": {"containers": [{"name": "c", "image": "example.com/c:1"}]}}}}


def eventually(check: Callable[[], Any], timeout: float = 30, interval: float = 0.1) -> Any:
    """``check()``'s first truthy result. kubemu answers at once; the real server's controllers
    (namespace, garbage collector, token, CRD establishing) act a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


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
