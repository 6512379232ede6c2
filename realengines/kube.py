"""A real Kubernetes control plane on 127.0.0.1: etcd + kube-apiserver (+ kube-controller-manager).

The binaries come from ``python -m realengines build kube`` (``.cache/engines/bin``). Usage::

    server = KubeAPIServer("hub").start()       # fresh state under .cache/engines/run/hub
    server.url, server.kubeconfig_path, server.ca_path, server.admin_client_cert, server.admin_token
    server.write_kubeconfig(path, user="alice", groups=("dev",))   # another identity (client cert)
    server.stop()                               # kills every process group, leaves nothing behind

Each instance picks free ports, so several run at once (a second one stands in for a workload
cluster). Every run generates its own PKI (cluster CA, serving certificate, front-proxy CA and
client, service-account signing keys), an admin client certificate in ``system:masters`` and a
static admin bearer token; authorization is ``Node,RBAC``. The controller manager runs only the
controllers that matter for an API-level test (``CONTROLLERS``). Started instances are stopped at
interpreter exit (atexit) unless started with ``detach=True`` (the CLI ``up``); ``stop_detached``
stops those from their ``pids.json``.
"""
from __future__ import annotations

import atexit
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from .build import CACHE, binary, missing
from .pki import CertPair, Pki

RUN = CACHE / "run"
SERVICE_CIDR = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# kube-controller-manager controllers (names of cmd/kube-controller-manager/names @ v1.34.4).
CONTROLLERS = (
    "namespace-controller",
    "garbage-collector-controller",
    "serviceaccount-token-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
)

_STARTED: list["KubeAPIServer"] = []


class EngineError(RuntimeError):
    """A real engine did not start or answer; the message carries the tail of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


class KubeAPIServer:
    """etcd + kube-apiserver (+ kube-controller-manager) with state under ``state_dir``.

    Attributes set by ``start()``: ``url``, ``port``, ``etcd_url``, ``kubeconfig_path`` (admin,
    client certificate), ``ca_path``, ``ca_pem``, ``admin_client_cert`` (CertPair),
    ``admin_token`` (static token of a ``system:masters`` user), ``pki`` (every generated file).
    """

    def __init__(self, name: str = "hub", state_dir: str | os.PathLike[str] | None = None, *,
                 controller_manager: bool = True, apiserver_args: tuple[str, ...] = (),
                 startup_timeout: float = 300) -> None:
        self.name = name
        self.state_dir = Path(state_dir) if state_dir else RUN / name
        self.controller_manager = controller_manager
        self.apiserver_args = tuple(apiserver_args)
        self.startup_timeout = startup_timeout
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.url = ""
        self.port = 0
        self.etcd_url = ""
        self.admin_token = ""
        self.pki: Pki | None = None

    # ----------------------------------------------------------------------------- paths
    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def kubeconfig_path(self) -> Path:
        """Admin kubeconfig (client certificate of ``system:masters``)."""
        return self.state_dir / "admin.kubeconfig"

    @property
    def ca_path(self) -> Path:
        return self.state_dir / "pki" / "ca.crt"

    @property
    def ca_pem(self) -> bytes:
        return self.ca_path.read_bytes()

    @property
    def admin_client_cert(self) -> CertPair:
        return CertPair(self.state_dir / "pki" / "admin.crt", self.state_dir / "pki" / "admin.key")

    # ----------------------------------------------------------------------------- lifecycle
    def start(self, *, detach: bool = False) -> "KubeAPIServer":
        """Start with fresh state and wait until /readyz and /livez answer ok; return self.

        Raises EngineError (binaries missing, a process exited, or not ready in time).
        """
        reason = missing("kube")
        if reason:
            raise EngineError(reason)
        if self.state_dir.exists():
            if (self.state_dir / "pids.json").exists():
                stop_detached(self.name, self.state_dir)
            shutil.rmtree(self.state_dir)
        self.logs.mkdir(parents=True)
        self.pki = Pki(self.state_dir / "pki")
        self.pki.client_cert("admin", "kubernetes-admin", ("system:masters",))
        self.admin_token = secrets.token_hex(24)
        tokens = self.state_dir / "pki" / "tokens.csv"
        tokens.write_text(f'{self.admin_token},kubernetes-admin-token,admin-token-uid,"system:masters"\n')
        tokens.chmod(0o600)
        if not detach:
            _STARTED.append(self)
        try:
            self._start_etcd()
            self._start_apiserver()
            self.write_kubeconfig(self.kubeconfig_path)
            self._wait_ready()
            if self.controller_manager:
                self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        self._save(detach)
        return self

    def stop(self) -> None:
        """Stop every process (SIGTERM to its process group, SIGKILL after 15 s). Idempotent."""
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            proc = self.processes.pop(name, None)
            if proc is not None:
                _kill_group(proc.pid, proc)
        (self.state_dir / "pids.json").unlink(missing_ok=True)
        if self in _STARTED:
            _STARTED.remove(self)

    def __enter__(self) -> "KubeAPIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        log.write((" ".join(argv) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=self.state_dir, start_new_session=True)
        log.close()
        self.processes[name] = proc
        return proc

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        self._spawn("etcd", [
            str(binary("etcd")), "--name", self.name, "--data-dir", str(self.state_dir / "etcd"),
            "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"{self.name}=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync", "--log-level", "warn",
        ])
        self._wait("etcd", lambda: _http_ok(f"{self.etcd_url}/health", expect=b'"health":"true"'))

    def _start_apiserver(self) -> None:
        assert self.pki is not None
        pki = self.pki
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self._spawn("kube-apiserver", [
            str(binary("kube-apiserver")),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.port}",
            f"--tls-cert-file={pki.serving.cert}", f"--tls-private-key-file={pki.serving.key}",
            f"--client-ca-file={pki.ca.cert}",
            f"--token-auth-file={self.state_dir / 'pki' / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            f"--requestheader-client-ca-file={pki.front_proxy_ca.cert}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki.front_proxy_client.cert}",
            f"--proxy-client-key-file={pki.front_proxy_client.key}",
            f"--cert-dir={self.state_dir / 'pki'}",
            "--profiling=false", "--v=1",
            *self.apiserver_args,
        ])

    def _start_controller_manager(self) -> None:
        assert self.pki is not None
        kcm_cert = self.pki.client_cert("controller-manager", "system:kube-controller-manager")
        kubeconfig = self.write_kubeconfig(self.state_dir / "controller-manager.kubeconfig", cert=kcm_cert)
        port = free_port()
        self._spawn("kube-controller-manager", [
            str(binary("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={port}",
            f"--cert-dir={self.state_dir / 'controller-manager'}",
            f"--controllers={','.join(CONTROLLERS)}",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self.pki.sa_key}",
            f"--root-ca-file={self.pki.ca.cert}",
            "--leader-elect=false", "--v=1",
        ])
        self._wait("kube-controller-manager", lambda: _http_ok(f"https://127.0.0.1:{port}/healthz", verify=False))

    def _wait_ready(self) -> None:
        for path in ("/readyz", "/livez"):
            self._wait("kube-apiserver", lambda p=path: self.request("GET", p)[0] == 200)

    def _wait(self, name: str, check) -> None:
        wait_until(self.processes, self.logs, name, check, timeout=self.startup_timeout, prefix=f"{self.name}: ")

    def _save(self, detach: bool) -> None:
        record = {"name": self.name, "url": self.url, "etcd_url": self.etcd_url,
                  "kubeconfig": str(self.kubeconfig_path), "detached": detach,
                  "pids": {name: proc.pid for name, proc in self.processes.items()},
                  "binaries": {name: str(binary(name)) for name in self.processes}}
        (self.state_dir / "pids.json").write_text(json.dumps(record, indent=2))

    # ----------------------------------------------------------------------------- clients
    def healthy(self) -> bool:
        """True when every process runs and /readyz answers ok."""
        if not self.processes or any(p.poll() is not None for p in self.processes.values()):
            return False
        try:
            return self.request("GET", "/readyz")[0] == 200
        except OSError:
            return False

    def ssl_context(self, client_cert: CertPair | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_path))
        pair = client_cert or self.admin_client_cert
        ctx.load_cert_chain(str(pair.cert), str(pair.key))
        return ctx

    def request(self, method: str, path: str, body: Any = None, *,
                content_type: str = "application/json", timeout: float = 10) -> tuple[int, Any]:
        """One admin HTTPS request; returns (status, decoded JSON or text)."""
        data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
        req = urllib.request.Request(self.url + path, method=method,
                                     data=data.encode() if isinstance(data, str) else data,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def client_cert(self, user: str, groups: tuple[str, ...] = ()) -> CertPair:
        """A client certificate of this server's CA for ``user`` in ``groups``."""
        assert self.pki is not None, "start() first"
        return self.pki.client_cert(f"user-{user.replace(':', '_')}", user, groups)

    def kubeconfig_dict(self, *, cert: CertPair | None = None, token: str | None = None,
                        context: str | None = None) -> dict[str, Any]:
        """A kubeconfig (inline data) for the admin certificate, another ``cert``, or a bearer ``token``."""
        user: dict[str, str]
        if token is not None:
            user = {"token": token}
        else:
            pair = cert or self.admin_client_cert
            user = {"client-certificate-data": base64.b64encode(pair.cert.read_bytes()).decode(),
                    "client-key-data": base64.b64encode(pair.key.read_bytes()).decode()}
        ctx = context or self.name
        return {"apiVersion": "v1", "kind": "Config", "current-context": ctx, "preferences": {},
                "clusters": [{"name": self.name, "cluster": {
                    "server": self.url, "certificate-authority-data": base64.b64encode(self.ca_pem).decode()}}],
                "users": [{"name": f"{self.name}-user", "user": user}],
                "contexts": [{"name": ctx, "context": {"cluster": self.name, "user": f"{self.name}-user"}}]}

    def write_kubeconfig(self, path: str | os.PathLike[str], *, user: str | None = None,
                         groups: tuple[str, ...] = (), cert: CertPair | None = None, token: str | None = None,
                         context: str | None = None) -> Path:
        """Write a kubeconfig (mode 0600): admin by default, ``user``/``groups`` (new client
        certificate), an existing ``cert``, or a bearer ``token``."""
        if user is not None:
            cert = self.client_cert(user, groups)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig_dict(cert=cert, token=token, context=context)))
        path.chmod(0o600)
        return path

    def api_client(self, kubeconfig: dict[str, Any] | None = None):
        """A ``kubernetes.client.ApiClient`` (admin unless another kubeconfig dict is given)."""
        from kubernetes import config

        return config.new_client_from_config_dict(kubeconfig or self.kubeconfig_dict())


def _http_ok(url: str, *, expect: bytes | None = None, verify: bool = True) -> bool:
    ctx = None
    if url.startswith("https:") and not verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=3, context=ctx) as resp:
            return resp.status == 200 and (expect is None or expect in resp.read())
    except urllib.error.HTTPError:
        return False


def _kill_group(pid: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 15) -> None:
    """SIGTERM the process group of ``pid`` (a session leader we started); SIGKILL what is left."""

    def gone() -> bool:
        return proc.poll() is not None if proc is not None else not _alive(pid)

    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)  # the leader, if it ignored SIGTERM, and anything it left behind
    except ProcessLookupError:
        pass
    if proc is not None:
        proc.wait(10)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _ours(pid: int, path: str) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode() == path
    except OSError:
        return False


def run_names() -> list[str]:
    """Names of the runs under .cache/engines/run that have a pids.json."""
    return sorted(p.parent.name for p in RUN.glob("*/pids.json")) if RUN.exists() else []


def stop_detached(name: str, state_dir: Path | None = None) -> str:
    """Stop a run started elsewhere (``up``) from its pids.json; returns what was done."""
    record_path = (state_dir or RUN / name) / "pids.json"
    if not record_path.exists():
        return "not running"
    record = json.loads(record_path.read_text())
    stopped = []
    for proc_name in ("kube-controller-manager", "kube-apiserver", "etcd"):
        pid = record["pids"].get(proc_name)
        if pid and _ours(pid, record["binaries"][proc_name]):
            _kill_group(pid)
            stopped.append(proc_name)
    record_path.unlink()
    return f"stopped {', '.join(stopped)}" if stopped else "was not running"


def status(name: str) -> str:
    """``running <url>`` when every recorded process is alive and /readyz is ok, else why not."""
    record_path = RUN / name / "pids.json"
    if not record_path.exists():
        return "not running"
    record = json.loads(record_path.read_text())
    dead = [n for n, pid in record["pids"].items() if not _ours(pid, record["binaries"][n])]
    if dead:
        return f"broken: {', '.join(dead)} not running (logs: {RUN / name / 'logs'})"
    server = KubeAPIServer(name)
    server.url = record["url"]
    try:
        code = server.request("GET", "/readyz")[0]
    except OSError as err:
        return f"not ready: {err}"
    return f"running {record['url']} (KUBECONFIG={record['kubeconfig']})" if code == 200 else f"not ready ({code})"


@atexit.register
def _stop_all() -> None:
    for server in list(_STARTED):
        server.stop()


def wait_until(processes: dict, logs: Path, name: str, check, *, timeout: float, interval: float = 0.25,
               prefix: str = "") -> None:
    """Poll ``check()`` until it is true; fail naming the log when a process of ``processes`` exits first, or when
    ``timeout`` seconds pass. OSError from ``check`` (nothing listening yet) counts as not ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc_name, proc in processes.items():
            if proc.poll() is not None:
                log = logs / f"{proc_name}.log"
                raise EngineError(f"{prefix}{proc_name} exited with {proc.returncode}; "
                                  f"last lines of {log}:\n{_tail(log)}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(interval)
    log = logs / f"{name}.log"
    raise EngineError(f"{prefix}{name} not ready after {timeout:.0f}s; last lines of {log}:\n{_tail(log)}")
