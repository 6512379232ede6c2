"""The conformance suite's view of a server, over a REAL kube-apiserver (realengines.kube).

``RealServer`` offers what the tests use of ``kubemu.KubeServer`` (``url``, ``ca_pem``,
``admin_token``, ``kubeconfig_dict``, ``write_kubeconfig``, ``create``/``get``/``update``/
``patch_status``/``delete``) through the HTTP API only, the way a controller would: ``create`` and
``update`` of an object that carries a status write it through the status subresource afterwards.
kubemu's test hooks (``compact``, ``drop_watches``, request counters, plain HTTP) have no real
counterpart; the tests using them are marked ``kubemu_only``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from realengines.kube import KubeAPIServer


class RealServer:
    def __init__(self, server: KubeAPIServer) -> None:
        self.server = server
        self.name = server.name
        self._resources: dict[str, dict[str, dict[str, Any]]] = {}

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ca_pem(self) -> bytes:
        return self.server.ca_pem

    @property
    def admin_token(self) -> str:
        return self.server.admin_token

    def kubeconfig_dict(self, *, token: str | None = None, client_cert: bool = False,
                        context: str | None = None) -> dict[str, Any]:
        if client_cert:
            return self.server.kubeconfig_dict(context=context)
        return self.server.kubeconfig_dict(token=token or self.admin_token, context=context)

    def write_kubeconfig(self, path: str | os.PathLike[str], **kwargs: Any) -> Path:
        token = None if kwargs.get("client_cert") else (kwargs.get("token") or self.admin_token)
        return self.server.write_kubeconfig(path, token=token, context=kwargs.get("context"))

    # ------------------------------------------------------------------ REST mapping
    def _resource(self, api_version: str, kind: str) -> dict[str, Any]:
        for refresh in (False, True):
            if refresh or api_version not in self._resources:
                prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
                status, doc = self.server.request("GET", prefix)
                if status != 200:
                    raise LookupError(f"{api_version} not served ({status})")
                self._resources[api_version] = {r["kind"]: r for r in doc["resources"] if "/" not in r["name"]}
            if kind in self._resources[api_version]:
                return self._resources[api_version][kind]
        raise LookupError(f"{kind} not served at {api_version}")

    def _path(self, api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
        resource = self._resource(api_version, kind)
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        ns = f"/namespaces/{namespace or 'default'}" if resource["namespaced"] else ""
        return f"{prefix}{ns}/{resource['name']}" + (f"/{name}" if name else "")

    def _check(self, status: int, body: Any, *ok: int) -> dict[str, Any]:
        if status not in ok:
            raise RuntimeError(f"{self.name}: {status} {body}")
        return body

    # ------------------------------------------------------------------ verbs
    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.get("metadata") or {}
        path = self._path(obj["apiVersion"], obj["kind"], meta.get("namespace"))
        created = self._check(*self.server.request("POST", path, obj), 201)
        if "status" in obj:
            created = self._write_status(obj, created)
        return created

    def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        path = self._path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        updated = self._check(*self.server.request("PUT", path, obj), 200)
        if "status" in obj and obj["status"] != updated.get("status"):
            updated = self._write_status(obj, updated)
        return updated

    def _write_status(self, wanted: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
        meta = current["metadata"]
        path = self._path(current["apiVersion"], current["kind"], meta.get("namespace"), meta["name"]) + "/status"
        body = {**current, "status": wanted["status"]}
        return self._check(*self.server.request("PUT", path, body), 200)

    def patch_status(self, api_version: str, kind: str, name: str, namespace: str | None,
                     status: dict[str, Any]) -> dict[str, Any]:
        path = self._path(api_version, kind, namespace, name) + "/status"
        answer = self.server.request("PATCH", path, {"status": status}, content_type="application/merge-patch+json")
        return self._check(*answer, 200)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        status, body = self.server.request("GET", self._path(api_version, kind, namespace, name))
        return None if status == 404 else self._check(status, body, 200)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        status, body = self.server.request("DELETE", self._path(api_version, kind, namespace, name))
        return None if status == 404 else self._check(status, body, 200, 202)
