# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection settings for a Kubernetes API server, read without the ``kubernetes`` package.

Sources: a kubeconfig (a dict, or a file whose directory anchors relative paths), the in-cluster service account,
or the module's explicit options (assembled by ``_k8s_client``). What a kubeconfig may hold is documented at
kubernetes.io (Organizing Cluster Access Using kubeconfig Files; Authenticating: client-go credential plugins):

* cluster: ``server``, ``certificate-authority`` / ``certificate-authority-data``, ``insecure-skip-tls-verify``,
  ``tls-server-name``;
* user: ``token`` (preferred) or ``tokenFile``, else an ``exec`` credential plugin
  (``client.authentication.k8s.io/v1`` or ``v1beta1``), else ``username`` / ``password``; independently of these,
  ``client-certificate(-data)`` / ``client-key(-data)``. This is the order the ``kubernetes`` package applies
  (the collection's behaviour before this reader existed).

Anything else the ``kubernetes`` package understands (a user's ``auth-provider``, a cluster's ``proxy-url``, an
exec plugin of another API version) raises :class:`Unsupported`: the caller then uses that package.

Client certificates given inline are loaded into the ``ssl.SSLContext`` through files (``load_cert_chain`` reads
only files): they are written to a private directory (mode 0700, files 0600), loaded, and removed at once; the
context keeps them in memory for every connection.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

__all__ = [
    "EXEC_API_VERSIONS",
    "KubeconfigInvalid",
    "Unsupported",
    "Credentials",
    "ExecCredential",
    "Connection",
    "from_kubeconfig",
    "from_incluster",
    "run_exec_plugin",
    "ssl_context",
]

EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# A token file is read again after this many seconds (a projected service account token rotates).
TOKEN_FILE_REREAD_SECONDS = 60.0
# An exec credential is renewed this many seconds before its expirationTimestamp.
EXPIRY_MARGIN_SECONDS = 10.0


class KubeconfigInvalid(ValueError):
    """The kubeconfig (or the in-cluster set-up) cannot be used; the message says why."""


class Unsupported(Exception):
    """The settings use a feature this reader leaves to the ``kubernetes`` package; the message names it."""


@dataclass
class ExecCredential:
    """What an exec credential plugin printed (its ExecCredential status)."""

    token: str | None = None
    client_certificate_data: str | None = None
    client_key_data: str | None = None
    expires: float | None = None  # seconds since the epoch


class Credentials:
    """The Authorization header of one connection.

    A ``token_file`` is read again once its last read is older than :data:`TOKEN_FILE_REREAD_SECONDS`; an exec
    plugin runs again once its credential's ``expirationTimestamp`` is near."""

    def __init__(self, *, token: str | None = None, token_file: str | None = None,
                 basic: tuple[str, str] | None = None,
                 exec_plugin: Callable[[], ExecCredential] | None = None,
                 exec_first: ExecCredential | None = None) -> None:
        self.token, self.token_file, self.basic, self.exec_plugin = token, token_file, basic, exec_plugin
        self._exec = exec_first
        self._read_at = 0.0
        self._lock = threading.Lock()
        if token_file and not token:
            self._read_token_file()

    def _read_token_file(self) -> None:
        try:
            with open(self.token_file, encoding="utf-8") as f:  # type: ignore[arg-type]
                token = f.read().strip()
        except OSError as e:
            if self.token:  # keep the last good token while the file is being replaced
                return
            raise KubeconfigInvalid(f"cannot read the token file {self.token_file}: {e.strerror}") from e
        if not token:
            raise KubeconfigInvalid(f"the token file {self.token_file} is empty")
        self.token, self._read_at = token, time.monotonic()

    def header(self) -> str | None:
        """The value of the Authorization header (None: no header)."""
        if self.token_file and time.monotonic() - self._read_at > TOKEN_FILE_REREAD_SECONDS:
            with self._lock:
                self._read_token_file()
        if self.exec_plugin is not None:
            with self._lock:
                cred = self._exec
                if cred is None or (cred.expires is not None and time.time() > cred.expires - EXPIRY_MARGIN_SECONDS):
                    cred = self._exec = self.exec_plugin()
            return f"Bearer {cred.token}" if cred.token else None
        if self.token:
            return f"Bearer {self.token}"
        if self.basic:
            raw = f"{self.basic[0]}:{self.basic[1]}".encode()
            return f"Basic {base64.b64encode(raw).decode()}"
        return None


@dataclass
class Connection:
    """Where the API server is and how to authenticate to it."""

    host: str
    verify: bool = True
    ca_file: str | None = None
    ca_data: str | None = None  # PEM
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = None  # PEM
    key_data: bytes | None = None  # PEM
    tls_server_name: str | None = None
    credentials: Credentials = field(default_factory=Credentials)


# --- kubeconfig ------------------------------------------------------------------------------------------------

def _named(doc: dict[str, Any], section: str, name: str, key: str) -> dict[str, Any]:
    for item in doc.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get(key)
            return value if isinstance(value, dict) else {}
    raise KubeconfigInvalid(f"Expected object with name {name} in kube-config/{section} list")


def _path(value: str, base_dir: str | None) -> str:
    return value if os.path.isabs(value) or not base_dir else os.path.join(base_dir, value)


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.standard_b64decode(value)
    except (binascii.Error, TypeError, ValueError) as e:
        raise KubeconfigInvalid(f"{what} is not valid base64") from e


def from_kubeconfig(doc: Any, *, context: str | None = None, base_dir: str | None = None) -> Connection:
    """The connection a kubeconfig's context describes. Relative file names are relative to ``base_dir``."""
    if not isinstance(doc, dict):
        raise KubeconfigInvalid("Invalid kube-config file. No configuration found.")
    context = context or doc.get("current-context")
    if not context:
        raise KubeconfigInvalid("Expected key current-context in kube-config")
    ctx = _named(doc, "contexts", context, "context")
    if not ctx.get("cluster"):
        raise KubeconfigInvalid(f"context {context} names no cluster")
    cluster = _named(doc, "clusters", ctx["cluster"], "cluster")
    user = _named(doc, "users", ctx["user"], "user") if ctx.get("user") else {}
    if user.get("auth-provider"):
        raise Unsupported("a user auth-provider")
    if cluster.get("proxy-url"):
        raise Unsupported("a cluster proxy-url")
    if not cluster.get("server"):
        raise KubeconfigInvalid(f"cluster {ctx['cluster']} has no server")
    conn = Connection(host=str(cluster["server"]).rstrip("/"),
                      verify=not cluster.get("insecure-skip-tls-verify", False),
                      tls_server_name=cluster.get("tls-server-name") or None)
    if cluster.get("certificate-authority-data"):
        conn.ca_data = _b64(cluster["certificate-authority-data"], "certificate-authority-data").decode()
    elif cluster.get("certificate-authority"):
        conn.ca_file = _path(cluster["certificate-authority"], base_dir)
    if user.get("client-certificate-data"):
        conn.cert_data = _b64(user["client-certificate-data"], "client-certificate-data")
    elif user.get("client-certificate"):
        conn.cert_file = _path(user["client-certificate"], base_dir)
    if user.get("client-key-data"):
        conn.key_data = _b64(user["client-key-data"], "client-key-data")
    elif user.get("client-key"):
        conn.key_file = _path(user["client-key"], base_dir)
    conn.credentials = _credentials(user, cluster, base_dir, conn)
    return conn


def _credentials(user: dict[str, Any], cluster: dict[str, Any], base_dir: str | None,
                 conn: Connection) -> Credentials:
    if user.get("token"):
        return Credentials(token=str(user["token"]))
    if user.get("tokenFile"):
        return Credentials(token_file=_path(user["tokenFile"], base_dir))
    spec = user.get("exec")
    if spec:
        if spec.get("apiVersion") not in EXEC_API_VERSIONS:
            raise Unsupported(f"an exec plugin of apiVersion {spec.get('apiVersion')}")
        info = _cluster_info(cluster, base_dir) if spec.get("provideClusterInfo") else None

        def plugin() -> ExecCredential:
            return run_exec_plugin(spec, base_dir=base_dir, cluster=info)

        first = plugin()
        if first.client_certificate_data:
            conn.cert_data, conn.cert_file = first.client_certificate_data.encode(), None
            conn.key_data, conn.key_file = (first.client_key_data or "").encode(), None
        return Credentials(exec_plugin=plugin, exec_first=first)
    if user.get("username") and user.get("password"):
        return Credentials(basic=(str(user["username"]), str(user["password"])))
    return Credentials()


def _cluster_info(cluster: dict[str, Any], base_dir: str | None) -> dict[str, Any]:
    """The ``spec.cluster`` of the ExecCredential passed in KUBERNETES_EXEC_INFO (provideClusterInfo): the
    kubeconfig's names, the CA as base64 data even when the kubeconfig names a file, and the cluster's
    ``client.authentication.k8s.io/exec`` extension as ``config``."""
    info: dict[str, Any] = {"server": cluster.get("server")}
    if cluster.get("tls-server-name"):
        info["tls-server-name"] = cluster["tls-server-name"]
    if cluster.get("insecure-skip-tls-verify"):
        info["insecure-skip-tls-verify"] = True
    if cluster.get("certificate-authority-data"):
        info["certificate-authority-data"] = cluster["certificate-authority-data"]
    elif cluster.get("certificate-authority"):
        path = _path(cluster["certificate-authority"], base_dir)
        try:
            with open(path, "rb") as f:
                info["certificate-authority-data"] = base64.b64encode(f.read()).decode()
        except OSError as e:
            raise KubeconfigInvalid(f"cannot read the CA bundle {path} for the exec plugin: {e.strerror}") from e
    for ext in cluster.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == "client.authentication.k8s.io/exec":
            info["config"] = ext.get("extension")
    return info


def _timestamp(value: str) -> float:
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:  # at most microseconds for fromisoformat
        head, tail = text.split(".", 1)
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[:min(digits, 6)].ljust(6, '0')}{tail[digits:]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError as e:
        raise KubeconfigInvalid(f"exec plugin: expirationTimestamp {value!r} is not an RFC 3339 time") from e


def run_exec_plugin(spec: dict[str, Any], *, base_dir: str | None = None,
                    cluster: dict[str, Any] | None = None) -> ExecCredential:
    """Run a kubeconfig's exec credential plugin once and return the credential it printed."""
    api_version, command = spec.get("apiVersion"), spec.get("command")
    if not command:
        raise KubeconfigInvalid("exec: command is required")
    # A relative command with a directory part is relative to the kubeconfig's directory; a bare name is
    # looked up in PATH (kubernetes.io, client-go credential plugins).
    if os.sep in command and not os.path.isabs(command) and base_dir:
        command = os.path.join(base_dir, command)
    env = dict(os.environ)
    for item in spec.get("env") or []:
        if isinstance(item, dict) and item.get("name"):
            env[str(item["name"])] = str(item.get("value", ""))
    info: dict[str, Any] = {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    if cluster is not None:
        info["spec"]["cluster"] = cluster
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    argv = [command, *[str(a) for a in spec.get("args") or []]]
    try:
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError as e:
        hint = f" ({spec['installHint'].strip()})" if spec.get("installHint") else ""
        raise KubeconfigInvalid(f"exec plugin {spec['command']}: cannot run it: {e.strerror or e}{hint}") from e
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip()
        raise KubeconfigInvalid(f"exec plugin {spec['command']} exited with status {proc.returncode}"
                                + (f": {stderr}" if stderr else ""))
    try:
        data = json.loads(proc.stdout)
    except ValueError as e:
        raise KubeconfigInvalid(f"exec plugin {spec['command']} printed no ExecCredential JSON: {e}") from e
    if not isinstance(data, dict) or data.get("kind") != "ExecCredential" or not isinstance(data.get("status"), dict):
        raise KubeconfigInvalid(f"exec plugin {spec['command']} printed no ExecCredential with a status")
    if data.get("apiVersion") != api_version:
        raise KubeconfigInvalid(f"exec plugin {spec['command']}: ExecCredential apiVersion {data.get('apiVersion')} "
                                f"does not match {api_version}")
    status = data["status"]
    cred = ExecCredential(token=status.get("token") or None,
                          client_certificate_data=status.get("clientCertificateData") or None,
                          client_key_data=status.get("clientKeyData") or None)
    if bool(cred.client_certificate_data) != bool(cred.client_key_data):
        raise KubeconfigInvalid(f"exec plugin {spec['command']}: clientCertificateData and clientKeyData "
                                "come together")
    if not cred.token and not cred.client_certificate_data:
        raise KubeconfigInvalid(f"exec plugin {spec['command']} returned neither a token nor a client certificate")
    if status.get("expirationTimestamp"):
        cred.expires = _timestamp(str(status["expirationTimestamp"]))
    return cred


# --- in-cluster ------------------------------------------------------------------------------------------------

def from_incluster(environ: dict[str, str] | None = None, sa_dir: str | None = None) -> Connection:
    """The in-cluster service account: KUBERNETES_SERVICE_HOST/PORT, its token and the cluster's CA."""
    environ = os.environ if environ is None else environ
    sa_dir = sa_dir or SERVICE_ACCOUNT_DIR
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise KubeconfigInvalid("Service host/port is not set.")
    token_file, ca_file = os.path.join(sa_dir, "token"), os.path.join(sa_dir, "ca.crt")
    if not os.path.isfile(token_file):
        raise KubeconfigInvalid("Service token file does not exist.")
    if not os.path.isfile(ca_file):
        raise KubeconfigInvalid("Service certification file does not exist.")
    if ":" in host:
        host = f"[{host}]"
    return Connection(host=f"https://{host}:{port}", ca_file=ca_file, credentials=Credentials(token_file=token_file))


# --- TLS -------------------------------------------------------------------------------------------------------

def _default_ca(ctx: ssl.SSLContext) -> None:
    """The CA bundle the kubernetes package used when none is set: certifi's, else the system's."""
    try:
        import certifi  # pylint: disable=import-outside-toplevel
        ctx.load_verify_locations(cafile=certifi.where())
    except ImportError:
        ctx.load_default_certs()


def ssl_context(conn: Connection) -> ssl.SSLContext:
    """One TLS context for every connection to ``conn.host`` (CA, verification, client certificate)."""
    from urllib3.util.ssl_ import create_urllib3_context  # pylint: disable=import-outside-toplevel
    ctx = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED if conn.verify else ssl.CERT_NONE)
    if not conn.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        if conn.verify:
            if conn.ca_file:
                ctx.load_verify_locations(cafile=conn.ca_file)
            elif conn.ca_data:
                ctx.load_verify_locations(cadata=conn.ca_data)
            else:
                _default_ca(ctx)
        if conn.cert_file or conn.cert_data:
            _load_client_cert(ctx, conn)
    except (OSError, ssl.SSLError) as e:
        raise KubeconfigInvalid(f"cannot load the TLS files: {e}") from e
    return ctx


def _load_client_cert(ctx: ssl.SSLContext, conn: Connection) -> None:
    if conn.cert_data is None and conn.key_data is None:
        ctx.load_cert_chain(conn.cert_file, conn.key_file)  # type: ignore[arg-type]
        return
    private = tempfile.mkdtemp(prefix="mcg-kube-")  # mode 0700
    try:
        cert, key = conn.cert_file, conn.key_file
        if conn.cert_data is not None:
            cert = _private_file(private, "client.crt", conn.cert_data)
        if conn.key_data is not None:
            key = _private_file(private, "client.key", conn.key_data)
        ctx.load_cert_chain(cert, key)  # type: ignore[arg-type]
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _private_file(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path
