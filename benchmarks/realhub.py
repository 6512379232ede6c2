"""The benchmarks' real hub: etcd + kube-apiserver built from ``engines/kube`` (``--api-server kube-apiserver``).

``RealHub`` offers what the benchmarks use of kubemu's ``KubeServer`` (``create`` with status, ``list``,
``patch_status``, ``delete_collection``, ``kubeconfig_dict``, ``write_kubeconfig``, ``reset_counters`` and
``requests``), so the same benchmark code drives either server:

* the benchmark's own writes (populating, clearing, the readiness status writer) go over HTTPS with the admin
  bearer token, on keep-alive connections (one per thread);
* the benchmarked client (ansible-playbook, the in-process wait) gets its own identity, the client certificate of
  ``CLIENT_USER`` (in ``system:masters``), through ``write_kubeconfig`` / ``kubeconfig_dict``;
* requests are counted from the API server's audit log: its policy logs ``CLIENT_USER`` alone (level Metadata),
  so the count is that client's requests, discovery included (kubemu counts discovery too; the
  ``apiserver_request_total`` metric leaves out ``/api``, ``/apis`` and ``/apis/<group>/<version>``, seen on
  v1.34.4). Each request counts once, at its first audit event (a watch at ``ResponseStarted``).

No kube-controller-manager runs: nothing but the benchmark and its client touches the objects.
"""
from __future__ import annotations

import argparse
import http.client
import json
import ssl
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from realengines import build, capi
from realengines.crds import install_crds, missing_crds
from realengines.kube import KubeAPIServer

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".cache" / "benchmarks"
CLIENT_USER = "mcg-bench-client"
SERVERS = ("kubemu", "kube-apiserver")
CLUSTER_CRD = "cluster.x-k8s.io_clusters.yaml"
# The kinds the benchmarks write: (apiVersion, kind) -> (plural, namespaced).
KINDS = {("v1", "Namespace"): ("namespaces", False), ("v1", "Secret"): ("secrets", True),
         ("cluster.x-k8s.io/v1beta2", "Cluster"): ("clusters", True)}
AUDIT_POLICY = f"""apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: [{CLIENT_USER}]
  - level: None
"""
# Audit verbs -> the HTTP method kubemu counts them under (non-resource verbs are the lower-case method).
METHODS = {"get": "GET", "list": "GET", "watch": "GET", "create": "POST", "update": "PUT", "patch": "PATCH",
           "delete": "DELETE", "deletecollection": "DELETE"}
COUNTING = ("the benchmarked client's requests, read from the API server's audit log (policy: level Metadata for "
            f"its user {CLIENT_USER} only), discovery included")


def add_option(parser: argparse.ArgumentParser) -> None:
    """``--api-server kubemu|kube-apiserver|both`` (default kubemu, the figures of the README)."""
    parser.add_argument("--api-server", choices=(*SERVERS, "both"), default="kubemu",
                        help="kubemu (emulated, in process), kube-apiserver (real, built by "
                             "`bash scripts/engines.sh build kube`) or both, one after the other")


def selected(choice: str) -> list[str]:
    """The servers of an ``--api-server`` value, in run order; exits with one line when the real one cannot run."""
    servers = list(SERVERS) if choice == "both" else [choice]
    if "kube-apiserver" in servers:
        reason = unavailable()
        if reason:
            raise SystemExit(f"--api-server {choice}: {reason}")
    return servers


def unavailable() -> str | None:
    """Why the real hub cannot start here (binaries not built, Cluster CRD not found), or None."""
    return build.missing("kube") or missing_crds("capi")


def built_version() -> str:
    """The version the built kube-apiserver reports (``kube-apiserver --version``: "Kubernetes v1.34.4")."""
    out = subprocess.run([str(build.binary("kube-apiserver")), "--version"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return out.split()[-1]


def describe(version: str) -> str:
    """What the "API server:" header line says about the real hub."""
    return (f"kube-apiserver {version} (real: etcd + kube-apiserver built from engines/kube, own processes on "
            "127.0.0.1, TLS, audit log on, no controller manager)")


def resource_path(api_version: str, kind: str, namespace: str | None = None, name: str | None = None,
                  subresource: str | None = None) -> str:
    """The REST path of a kind of ``KINDS`` (the collection without ``name``)."""
    try:
        plural, namespaced = KINDS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"the benchmarks' real hub knows no {api_version} {kind}") from None
    path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespaced:
        if not namespace:
            raise ValueError(f"{kind} is namespaced: a namespace is needed")
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name:
        path += f"/{name}" + (f"/{subresource}" if subresource else "")
    return path


class AuditCounter:
    """Requests per (HTTP method, resource or non-resource path) from audit log lines (JSON, one event a line).

    A request counts once, at the first event of its auditID seen by this counter (ResponseComplete; a
    watch's ResponseStarted), so a watch ending in a later window is not counted again. Events whose
    requestURI contains ``skip`` are not counted (the sentinel that marks the end of a window).
    """

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def count(self, lines: Iterable[str], skip: str | None = None) -> Counter[tuple[str, str]]:
        out: Counter[tuple[str, str]] = Counter()
        for line in lines:
            if not line.strip():
                continue
            event = json.loads(line)
            audit_id = event["auditID"]
            if audit_id in self.seen:
                continue
            self.seen.add(audit_id)
            if skip and skip in event.get("requestURI", ""):
                continue
            verb = event["verb"]
            ref = event.get("objectRef")
            if ref and ref.get("resource"):
                out[(METHODS.get(verb, verb.upper()), ref["resource"])] += 1
            else:
                out[(verb.upper(), event["requestURI"].split("?", 1)[0])] += 1
        return out


class RealHub:
    """A real kube-apiserver (with etcd) for one benchmark run; state under ``.cache/benchmarks/<name>``."""

    def __init__(self, name: str = "hub", *, cluster_crd: bool = True) -> None:
        self.name = name
        self.state_dir = STATE / name
        self.cluster_crd = cluster_crd
        self.server: KubeAPIServer | None = None
        self.version = ""
        self.counter = AuditCounter()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._offset = 0
        self._local = threading.local()
        self._client_cert = None
        self._client_ctx: ssl.SSLContext | None = None

    # ----------------------------------------------------------------------------- lifecycle
    @property
    def audit_log(self) -> Path:
        return self.state_dir / "audit.log"

    def start(self) -> "RealHub":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        policy = self.state_dir / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        self.audit_log.unlink(missing_ok=True)
        self.server = KubeAPIServer(f"bench-{self.name}", self.state_dir / "run", controller_manager=False,
                                    apiserver_args=(f"--audit-policy-file={policy}",
                                                    f"--audit-log-path={self.audit_log}",
                                                    "--audit-log-maxsize=100000")).start()
        try:
            self.version = self.request("GET", "/version")[1]["gitVersion"]
            if self.cluster_crd:
                install_crds(self.server, [capi.default_crd_dir() / CLUSTER_CRD])
            self._client_cert = self.server.client_cert(CLIENT_USER, ("system:masters",))
            self._client_ctx = self.server.ssl_context(self._client_cert)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def describe(self) -> str:
        """What the "API server:" header line says about this server."""
        return describe(self.version)

    # ----------------------------------------------------------------------------- the benchmark's own requests
    def _connection(self) -> http.client.HTTPSConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            assert self.server is not None, "start() first"
            ctx = ssl.create_default_context(cafile=str(self.server.ca_path))
            conn = self._local.conn = http.client.HTTPSConnection("127.0.0.1", self.server.port, context=ctx,
                                                                  timeout=60)
        return conn

    def request(self, method: str, path: str, body: Any = None, *,
                content_type: str = "application/json") -> tuple[int, Any]:
        """One admin request (bearer token, not audited) on this thread's keep-alive connection."""
        assert self.server is not None, "start() first"
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.server.admin_token}", "Accept": "application/json",
                   "Content-Type": content_type}
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode(errors="replace")

    def _checked(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        status, answer = self.request(method, path, body, **kwargs)
        if status >= 300:
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise RuntimeError(f"{method} {path}: {status} {message}")
        return answer

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """POST ``obj``, then its ``status`` (if any) through the status subresource: what kubemu's in-process
        create keeps in one step."""
        meta = obj.get("metadata") or {}
        path = resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"))
        created = self._checked("POST", path, obj)
        if obj.get("status"):
            created = self.patch_status(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"),
                                        obj["status"])
        return created

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return self._checked("GET", resource_path(api_version, kind, namespace))["items"]

    def patch_status(self, api_version: str, kind: str, name: str, namespace: str | None,
                     status: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch ``status`` through the status subresource, as a controller does."""
        return self._checked("PATCH", resource_path(api_version, kind, namespace, name, "status"),
                             {"status": status}, content_type="application/merge-patch+json")

    def delete_collection(self, api_version: str, kind: str, namespace: str | None = None) -> None:
        self._checked("DELETE", resource_path(api_version, kind, namespace))

    # ----------------------------------------------------------------------------- the benchmarked client
    def kubeconfig_dict(self, *, client_cert: bool = True) -> dict[str, Any]:
        """The benchmarked client's kubeconfig (``CLIENT_USER``'s certificate; ``client_cert`` as kubemu's)."""
        assert self.server is not None and self._client_cert is not None, "start() first"
        del client_cert  # always a client certificate: the audit policy selects its user
        return self.server.kubeconfig_dict(cert=self._client_cert)

    def write_kubeconfig(self, path: str | Path) -> Path:
        assert self.server is not None and self._client_cert is not None, "start() first"
        return self.server.write_kubeconfig(path, cert=self._client_cert)

    def reset_counters(self) -> None:
        """Start a new counting window (everything the client did so far is read and dropped)."""
        self._drain()
        self._counts = Counter()

    @property
    def requests(self) -> Counter[tuple[str, str]]:
        """(HTTP method, plural or path) -> the client's requests since ``reset_counters`` (reads the audit log)."""
        self._counts.update(self._drain())
        return Counter(self._counts)

    def _drain(self, timeout: float = 30) -> Counter[tuple[str, str]]:
        """Count the audit events written since the last drain, up to a sentinel request of the client."""
        assert self.server is not None and self._client_ctx is not None, "start() first"
        marker = f"mcg-bench-sentinel={uuid.uuid4().hex}"
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.port, context=self._client_ctx, timeout=30)
        try:
            conn.request("GET", f"/version?{marker}")
            conn.getresponse().read()
        finally:
            conn.close()
        deadline = time.monotonic() + timeout
        while True:
            with self.audit_log.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
            found = chunk.find(marker.encode())
            end = chunk.find(b"\n", found) if found >= 0 else -1
            if end >= 0:
                self._offset += end + 1
                return self.counter.count(chunk[:end + 1].decode().splitlines(), skip=marker)
            if time.monotonic() > deadline:
                raise RuntimeError(f"the audit log {self.audit_log} did not show the sentinel request in {timeout:.0f}s")
            time.sleep(0.05)
