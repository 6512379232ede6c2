# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One Kubernetes client factory for the collection's modules, and a thin REST layer on top.

Precedence of connection settings (first match wins):

1. explicit ``host`` (with ``api_key`` / ``ca_cert`` / ``client_cert`` / ``client_key``);
2. a kubeconfig: the ``kubeconfig`` option (path or dict), then ``K8S_AUTH_KUBECONFIG``,
   then ``KUBECONFIG``, then ``~/.kube/config``; ``context`` picks the context;
3. the in-cluster service account;

``validate_certs``, ``ca_cert``, ``client_cert`` and ``client_key`` override what 2. and 3. say.

Requests go out through urllib3 (:class:`Urllib3Transport`), with the settings
``_kube_connection`` reads: a kubeconfig's server, CA, insecure-skip-tls-verify, tls-server-name,
token / tokenFile, client certificate and key (files or inline data), username / password, exec
credential plugins (client.authentication.k8s.io v1 and v1beta1), the options above, the in-cluster
service account. A user ``auth-provider``, a cluster ``proxy-url``, an exec plugin of another API
version or a proxy from the environment (HTTPS_PROXY, HTTP_PROXY) are left to the ``kubernetes``
package (:class:`KubernetesTransport`), imported only then: a module process otherwise never
imports it.

The REST layer speaks plain paths rather than discovery, so one call costs one request, and it
raises :class:`ApiError` with the API's Status body instead of returning it.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import importlib.util
import json
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urlencode

from ansible.module_utils.basic import env_fallback

from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError, ConfigError
from ansible_collections.multicluster.gitops.plugins.module_utils._kube_connection import (
    Connection, Credentials, KubeconfigInvalid, Unsupported, from_incluster, from_kubeconfig, ssl_context,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._retry import (
    TRANSIENT_STATUSES, RetryPolicy, retry_after_seconds,
)

try:
    import urllib3
    import urllib3.exceptions as urllib3_exceptions
    HAS_URLLIB3 = True
    URLLIB3_IMPORT_ERROR: Exception | None = None
    _TIMEOUT_ERRORS: tuple[type[Exception], ...] = (urllib3_exceptions.TimeoutError, socket.timeout)
    _CONNECT_ERRORS: tuple[type[Exception], ...] = (urllib3_exceptions.NewConnectionError, ConnectionError)
    _TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
        urllib3_exceptions.ProtocolError, urllib3_exceptions.NewConnectionError, urllib3_exceptions.TimeoutError,
        urllib3_exceptions.MaxRetryError, http.client.HTTPException, ConnectionError, socket.timeout)
except ImportError as e:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_URLLIB3 = False
    URLLIB3_IMPORT_ERROR = e
    _TIMEOUT_ERRORS = _CONNECT_ERRORS = _TRANSIENT_ERRORS = (socket.timeout,)

# The kubernetes package is needed only for what _kube_connection leaves to it (see the module docstring);
# it is imported then, not here: importing it costs hundreds of milliseconds and tens of MiB per process.
HAS_KUBERNETES = importlib.util.find_spec("kubernetes") is not None
KUBERNETES_IMPORT_ERROR: Exception | None = None if HAS_KUBERNETES else ImportError("No module named 'kubernetes'")

__all__ = [
    "K8S_AUTH_ARG_SPEC",
    "HAS_KUBERNETES",
    "KUBERNETES_IMPORT_ERROR",
    "HAS_URLLIB3",
    "URLLIB3_IMPORT_ERROR",
    "HttpStatusError",
    "Urllib3Transport",
    "KubernetesTransport",
    "Resource",
    "KubeClient",
    "SECRET",
    "NAMESPACE",
    "SERVICE_ACCOUNT",
    "CLUSTER_ROLE",
    "CLUSTER_ROLE_BINDING",
    "api_client_from_params",
    "api_client_from_kubeconfig",
    "kube_client",
]

# Seconds to wait for an answer once connected (a watch waits its own timeoutSeconds plus a margin instead),
# and how many times a request that failed for a transient reason is tried again.
DEFAULT_READ_TIMEOUT = 60.0
USER_AGENT = "multicluster.gitops"
DEFAULT_RETRIES = 7
CONNECT_TIMEOUT = 10.0

K8S_AUTH_ARG_SPEC: dict[str, dict[str, Any]] = {
    "kubeconfig": {"type": "raw", "no_log": True, "fallback": (env_fallback, ["K8S_AUTH_KUBECONFIG"])},
    "context": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_CONTEXT"])},
    "host": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_HOST"])},
    "api_key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["K8S_AUTH_API_KEY"])},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"], "fallback": (env_fallback, ["K8S_AUTH_VERIFY_SSL"])},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"], "fallback": (env_fallback, ["K8S_AUTH_SSL_CA_CERT"])},
    "client_cert": {"type": "path", "aliases": ["cert_file"], "fallback": (env_fallback, ["K8S_AUTH_CERT_FILE"])},
    "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False,
                   "fallback": (env_fallback, ["K8S_AUTH_KEY_FILE"])},
    "request_timeout": {"type": "float", "default": DEFAULT_READ_TIMEOUT,
                        "fallback": (env_fallback, ["MCG_K8S_REQUEST_TIMEOUT"])},
    "request_retries": {"type": "int", "default": DEFAULT_RETRIES, "fallback": (env_fallback, ["MCG_K8S_REQUEST_RETRIES"])},
}


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the REST API."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


SECRET = Resource("", "v1", "secrets", "Secret")
NAMESPACE = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
SERVICE_ACCOUNT = Resource("", "v1", "serviceaccounts", "ServiceAccount")
CLUSTER_ROLE = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False)
CLUSTER_ROLE_BINDING = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
                                namespaced=False)

_CLIENT_CACHE: dict[str, Any] = {}


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class HttpStatusError(Exception):
    """An answer outside 2xx, as a transport reports it: status, reason, body (text) and headers."""

    def __init__(self, status: int, reason: str | None, body: Any, headers: Any = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.body, self.headers = status, reason, body, headers or {}


class Urllib3Transport:
    """Sends requests with urllib3: one connection pool to the API server, TLS set up once, no urllib3 retries
    (KubeClient.request owns retries)."""

    def __init__(self, conn: Connection, *, maxsize: int | None = None) -> None:
        self.conn = conn
        # Connections kept open per host: as many as the kubernetes package kept (5 per CPU), so that the
        # registration's parallel writes reuse their TLS connections instead of opening new ones.
        pool_kw: dict[str, Any] = {"retries": False, "maxsize": maxsize or (os.cpu_count() or 1) * 5}
        if conn.host.startswith("https:"):
            pool_kw["ssl_context"] = ssl_context(conn)
            pool_kw["cert_reqs"] = "CERT_REQUIRED" if conn.verify else "CERT_NONE"
            if conn.tls_server_name:
                pool_kw["server_hostname"] = conn.tls_server_name
        self.pool = urllib3.PoolManager(num_pools=4, **pool_kw)

    @property
    def host(self) -> str:
        return self.conn.host

    def send(self, method: str, path: str, *, query: list[tuple[str, Any]], headers: dict[str, str], body: Any,
             timeout: tuple[float, float | None], stream: bool) -> Any:
        """One HTTP exchange: the urllib3 response (not read when ``stream``), or HttpStatusError."""
        url = self.conn.host + path + (f"?{urlencode(query)}" if query else "")
        headers = dict(headers, **{"User-Agent": USER_AGENT})
        auth = self.conn.credentials.header()
        if auth:
            headers["Authorization"] = auth
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        resp = self.pool.request(method, url, body=data, headers=headers, preload_content=not stream,
                                 timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]), retries=False,
                                 redirect=False)
        if not 200 <= resp.status <= 299:
            raw = resp.data
            resp.release_conn()
            raise HttpStatusError(resp.status, resp.reason, raw.decode("utf-8", "replace") if raw else raw,
                                  resp.headers)
        return resp


class KubernetesTransport:
    """Sends requests with the kubernetes package's ApiClient: for what Urllib3Transport does not cover
    (a user auth-provider, a proxy). Imported only then."""

    def __init__(self, api_client: Any) -> None:
        self.api = api_client

    @property
    def host(self) -> str:
        return self.api.configuration.host

    def send(self, method: str, path: str, *, query: list[tuple[str, Any]], headers: dict[str, str], body: Any,
             timeout: tuple[float, float | None], stream: bool) -> Any:
        from kubernetes.client.rest import ApiException  # pylint: disable=import-outside-toplevel
        try:
            return self.api.call_api(
                path, method, query_params=query, header_params=headers, body=body,
                auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
                _request_timeout=timeout,
            )
        except ApiException as e:
            raise HttpStatusError(e.status, e.reason, e.body, getattr(e, "headers", None)) from e


def _kubernetes_transport(load: Any) -> KubernetesTransport:
    """A KubernetesTransport configured by ``load(configuration, kubernetes.config)``."""
    if not HAS_KUBERNETES:
        raise ConfigError(f"These connection settings use {load.needs}, which needs the Python 'kubernetes' "
                          "package; install it (pip install kubernetes) or use a token, a client certificate "
                          "or an exec credential plugin.")
    # pylint: disable=import-outside-toplevel
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException
    cfg = k8s_client.Configuration()
    cfg.retries = False  # KubeClient.request owns retries
    try:
        load(cfg, k8s_config)
    except ConfigException as e:
        raise ConfigError(f"Cannot configure the Kubernetes client: {e}. Set 'kubeconfig' (or K8S_AUTH_KUBECONFIG), "
                          "or 'host' and 'api_key'.") from e
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"Cannot use the kubeconfig: {e}") from e
    return KubernetesTransport(k8s_client.ApiClient(configuration=cfg))


class _Loader:
    """Loads a kubernetes Configuration the way the collection did before it had its own reader."""

    def __init__(self, needs: str, kubeconfig: Any = None, context: str | None = None, path: str | None = None,
                 overrides: dict[str, Any] | None = None) -> None:
        self.needs, self.kubeconfig, self.context, self.path = needs, kubeconfig, context, path
        self.overrides = overrides or {}

    def __call__(self, cfg: Any, k8s_config: Any) -> None:
        if isinstance(self.kubeconfig, dict):
            k8s_config.kube_config.KubeConfigLoader(config_dict=self.kubeconfig,
                                                    active_context=self.context).load_and_set(cfg)
        elif self.path:
            k8s_config.load_kube_config(config_file=self.path, context=self.context, client_configuration=cfg,
                                        persist_config=False)
        elif not self.overrides.get("host"):
            k8s_config.load_incluster_config(client_configuration=cfg)
        for attr, value in self.overrides.items():
            setattr(cfg, attr, value)


def _proxy_from_env() -> str | None:
    """The proxy variable the kubernetes package would honour, if any is set (it then decides about NO_PROXY)."""
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        if os.environ.get(var):
            return var
    return None


def _transport(conn_factory: Any, loader: _Loader) -> Any:
    """Urllib3Transport for what _kube_connection reads; the kubernetes package for the rest."""
    proxy = _proxy_from_env()
    if proxy:
        loader.needs = f"a proxy ({proxy})"
        return _kubernetes_transport(loader)
    if not HAS_URLLIB3:
        raise ConfigError(f"The Python 'urllib3' package is missing: {URLLIB3_IMPORT_ERROR}")
    try:
        return Urllib3Transport(conn_factory())
    except Unsupported as e:
        loader.needs = str(e)
        return _kubernetes_transport(loader)
    except KubeconfigInvalid as e:
        raise ConfigError(f"Cannot configure the Kubernetes client: {e}. Set 'kubeconfig' (or K8S_AUTH_KUBECONFIG), "
                          "or 'host' and 'api_key'.") from e


def api_client_from_kubeconfig(kubeconfig: dict[str, Any], *, context: str | None = None,
                               persist: bool = False) -> Any:  # pylint: disable=unused-argument
    """A transport for a kubeconfig given as a dict (e.g. decoded from a CAPI Secret)."""
    def conn() -> Connection:
        try:
            return from_kubeconfig(kubeconfig, context=context)
        except KubeconfigInvalid as e:
            raise ConfigError(f"Cannot use the kubeconfig: {e}") from e
    return _transport(conn, _Loader("", kubeconfig=kubeconfig, context=context))


def _apply_overrides(conn: Connection, params: dict[str, Any]) -> Connection:
    if params.get("validate_certs") is not None:
        conn.verify = bool(params["validate_certs"])
    if params.get("ca_cert"):
        conn.ca_file, conn.ca_data = params["ca_cert"], None
    if params.get("client_cert"):
        conn.cert_file, conn.cert_data = params["client_cert"], None
    if params.get("client_key"):
        conn.key_file, conn.key_data = params["client_key"], None
    return conn


def _overrides_for_kubernetes(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if params.get("validate_certs") is not None:
        out["verify_ssl"] = params["validate_certs"]
    for opt, attr in (("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"), ("client_key", "key_file")):
        if params.get(opt):
            out[attr] = params[opt]
    return out


def api_client_from_params(params: dict[str, Any]) -> Any:
    """A transport built from the module's auth options, following the documented precedence."""
    # The environment takes part in the precedence, so it takes part in the cache key too.
    key = _digest({"params": {k: params.get(k) for k in K8S_AUTH_ARG_SPEC},
                   "env": [os.environ.get(v) for v in ("KUBECONFIG", "HOME", "KUBERNETES_SERVICE_HOST",
                                                       "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")]})
    if key in _CLIENT_CACHE:
        return _CLIENT_CACHE[key]
    kubeconfig = params.get("kubeconfig")
    context = params.get("context")
    overrides = _overrides_for_kubernetes(params)
    if params.get("host"):
        def explicit() -> Connection:
            token = params.get("api_key")
            return _apply_overrides(Connection(host=params["host"].rstrip("/"), credentials=Credentials(token=token)),
                                    params)
        loader = _Loader("", overrides=dict(overrides, host=params["host"]))
        if params.get("api_key"):
            loader.overrides["api_key"] = {"authorization": f"Bearer {params['api_key']}"}
        transport = _transport(explicit, loader)
    elif isinstance(kubeconfig, dict):
        transport = _transport(lambda: _apply_overrides(from_kubeconfig(kubeconfig, context=context), params),
                               _Loader("", kubeconfig=kubeconfig, context=context, overrides=overrides))
    else:
        path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        path = path.split(os.pathsep)[0]
        if os.path.exists(path):
            transport = _transport(lambda: _apply_overrides(_read_kubeconfig(path, context), params),
                                   _Loader("", context=context, path=path, overrides=overrides))
        elif kubeconfig:
            raise ConfigError(f"kubeconfig file {path} does not exist; set 'kubeconfig' to a readable file")
        else:
            transport = _transport(lambda: _apply_overrides(from_incluster(), params),
                                   _Loader("", overrides=overrides))
    _CLIENT_CACHE[key] = transport
    return transport


def _read_kubeconfig(path: str, context: str | None) -> Connection:
    import yaml  # pylint: disable=import-outside-toplevel
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # nosec - a safe loader
    except (OSError, yaml.YAMLError) as e:
        raise KubeconfigInvalid(f"cannot read the kubeconfig {path}: {e}") from e
    return from_kubeconfig(doc, context=context, base_dir=os.path.dirname(os.path.abspath(path)))


def kube_client(params: dict[str, Any]) -> "KubeClient":
    """A KubeClient with the timeouts and retries the module's options ask for."""
    retries = params.get("request_retries")
    return KubeClient(api_client_from_params(params),
                      retry=RetryPolicy(attempts=1 + (DEFAULT_RETRIES if retries is None else max(retries, 0))),
                      read_timeout=params.get("request_timeout") or DEFAULT_READ_TIMEOUT)


class KubeClient:
    """Plain-path REST calls on a transport (Urllib3Transport, or KubernetesTransport). Every method is one HTTP request (watch: one stream)."""

    def __init__(self, api_client: Any, *, retry: RetryPolicy | None = None, connect_timeout: float = CONNECT_TIMEOUT,
                 read_timeout: float = DEFAULT_READ_TIMEOUT) -> None:
        self.api = api_client
        self.retry = retry or RetryPolicy()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.requests = 0
        self.retries = 0
        # Retries of the current thread's requests: create() tells its own retried POST from another thread's.
        self._thread = threading.local()

    @property
    def host(self) -> str:
        return self.api.host

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
                content_type: str | None = None, timeout: float | None = None, stream: bool = False) -> Any:
        """One API call, retried while the failure is transient (see :func:`_transient`).

        Every attempt has a connect and a read timeout; ``timeout`` overrides the read timeout (a watch
        passes its own). A create retried after an ambiguous failure and then answered 409 AlreadyExists is
        reconciled by :meth:`create`; every other call is idempotent as this collection uses it (GET, PUT
        with the full object, merge patches of a desired state, DELETE)."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        query_params = [(k, v) for k, v in (query or {}).items() if v is not None]
        request_timeout = (self.connect_timeout, timeout if timeout is not None else self.read_timeout)
        attempt, slept = 0, 0.0
        while True:
            attempt += 1
            self.requests += 1
            try:
                resp = self.api.send(method, path, query=query_params, headers=headers, body=body,
                                     timeout=request_timeout, stream=stream)
                if stream:
                    return resp
                data = resp.data
                return json.loads(data) if data else None
            except Exception as e:  # noqa: BLE001 - classified below; anything unknown is re-raised as is
                retry_after = _transient(e)
                if retry_after is False:
                    if isinstance(e, HttpStatusError):
                        raise _api_error(method, path, e) from e
                    raise _connection_error(method, self.host, path, e, attempts=attempt) from e
                delay = self.retry.delay(attempt, retry_after if isinstance(retry_after, float) else None)
                if not self.retry.should_retry(attempt, slept, delay):
                    if isinstance(e, HttpStatusError):
                        err = _api_error(method, path, e)
                        err.msg += f" (after {attempt} attempts)"
                        raise err from e
                    raise _connection_error(method, self.host, path, e, attempts=attempt) from e
                self.retries += 1
                self._thread.retries = self._thread_retries() + 1
                self.retry.sleep(delay)
                slept += delay

    def _thread_retries(self) -> int:
        return getattr(self._thread, "retries", 0)

    # --- object verbs -------------------------------------------------------------------------
    def get(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return self.request("GET", res.path(namespace, name))
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def list(self, res: Resource, namespace: str | None = None, *, label_selector: str | None = None,
             field_selector: str | None = None) -> dict[str, Any]:
        query = {"labelSelector": label_selector, "fieldSelector": field_selector}
        return self.request("GET", res.path(namespace), query=query)

    def create(self, res: Resource, body: dict[str, Any], namespace: str | None = None, *,
               dry_run: bool = False) -> dict[str, Any]:
        """POST; a create whose first attempt may have landed (retried, then 409 AlreadyExists) is re-read and
        returned when the live object holds what was sent, so a retry never turns a success into a failure."""
        retries_before = self._thread_retries()
        try:
            return self.request("POST", res.path(namespace), body=body,
                                query={"dryRun": "All" if dry_run else None})
        except ApiError as e:
            if e.status != 409 or self._thread_retries() == retries_before or dry_run:
                raise
            live = self.get(res, body["metadata"]["name"], namespace)
            if live is not None and holds(live, body):
                return live
            raise

    def replace(self, res: Resource, body: dict[str, Any], namespace: str | None = None, *,
                dry_run: bool = False) -> dict[str, Any]:
        name = body["metadata"]["name"]
        return self.request("PUT", res.path(namespace, name), body=body,
                            query={"dryRun": "All" if dry_run else None})

    def patch(self, res: Resource, name: str, patch: Any, namespace: str | None = None, *,
              patch_type: str = "merge", dry_run: bool = False, subresource: str | None = None) -> dict[str, Any]:
        ctype = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
                 "strategic": "application/strategic-merge-patch+json"}[patch_type]
        return self.request("PATCH", res.path(namespace, name, subresource), body=patch, content_type=ctype,
                            query={"dryRun": "All" if dry_run else None})

    def delete(self, res: Resource, name: str, namespace: str | None = None, *,
               dry_run: bool = False) -> dict[str, Any] | None:
        try:
            return self.request("DELETE", res.path(namespace, name), query={"dryRun": "All" if dry_run else None})
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def watch(self, res: Resource, namespace: str | None = None, *, resource_version: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              timeout_seconds: int | None = None) -> Iterator[dict[str, Any]]:
        """Yield watch events ({'type', 'object'}) until the server closes the stream."""
        # The read timeout outlasts the server-side timeoutSeconds; without one, a quiet watch may wait forever.
        read_timeout = None if timeout_seconds is None else timeout_seconds + 10
        resp = self.request("GET", res.path(namespace), stream=True, timeout=read_timeout,
                            query={"watch": "true", "resourceVersion": resource_version,
                                   "labelSelector": label_selector, "fieldSelector": field_selector,
                                   "timeoutSeconds": timeout_seconds, "allowWatchBookmarks": "true"})
        try:
            buf = b""
            for chunk in resp.stream(4096, decode_content=False):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
            if buf.strip():
                yield json.loads(buf)
        finally:
            resp.release_conn()


def holds(live: dict[str, Any], sent: dict[str, Any]) -> bool:
    """Whether ``live`` carries everything ``sent`` set: its labels and annotations, and every top-level
    field but metadata and status (``stringData`` compared with the base64 ``data`` it becomes)."""
    meta, live_meta = sent.get("metadata") or {}, live.get("metadata") or {}
    for key in ("labels", "annotations"):
        have = live_meta.get(key) or {}
        if any(have.get(k) != v for k, v in (meta.get(key) or {}).items()):
            return False
    for key, value in sent.items():
        if key in ("apiVersion", "kind", "metadata", "status"):
            continue
        if key == "stringData":
            data = live.get("data") or {}
            if any(data.get(k) != base64.b64encode(str(v).encode()).decode() for k, v in (value or {}).items()):
                return False
        elif live.get(key) != value:
            return False
    return True


def _transient(e: Exception) -> float | bool | None:
    """False when ``e`` is not worth a retry; otherwise the server's Retry-After in seconds, or None.

    Transient: 429 and 5xx answers (:data:`TRANSIENT_STATUSES`), connections refused, reset or cut
    mid-response, and timeouts."""
    if isinstance(e, HttpStatusError):
        if e.status not in TRANSIENT_STATUSES:
            return False
        headers = getattr(e, "headers", None) or {}
        return retry_after_seconds(headers.get("Retry-After"))
    if isinstance(e, _TRANSIENT_ERRORS):
        return None
    return False


def _connection_error(method: str, host: str, path: str, e: Exception, *, attempts: int) -> ApiError:
    """One line for a request that never got an HTTP answer: what, where, the likely cause."""
    text = str(e)
    if "refused" in text.lower() or isinstance(e, ConnectionRefusedError):
        cause = "connection refused: no API server listens there (is it running? is the kubeconfig current?)"
    elif isinstance(e, _TIMEOUT_ERRORS):
        cause = "timed out: the API server accepts connections but does not answer"
    elif isinstance(e, _CONNECT_ERRORS):
        cause = f"cannot connect ({type(e).__name__}): check the address and the network"
    else:
        cause = f"the connection broke ({type(e).__name__})"
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    return ApiError(f"{method} {host}{path}: {cause}{tries}", reason=type(e).__name__)


def _api_error(method: str, path: str, e: HttpStatusError) -> ApiError:
    body: Any = e.body
    message = e.reason
    try:
        body = json.loads(e.body) if e.body else None
        if isinstance(body, dict) and body.get("message"):
            message = body["message"]
    except (TypeError, ValueError):
        pass
    return ApiError(f"{method} {path}: {e.status} {message}", status=e.status, reason=e.reason, body=body)
