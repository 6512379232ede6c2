"""``KubeServer``: one emulated Kubernetes API server on its own thread and event loop."""
from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import os
import secrets
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from .api import Api
from .errors import ApiError
from .http import Frontend
from .resources import Registry, crd_to_type
from .selectors import parse_field_selector, parse_label_selector
from .store import Store, clone
from .tls import KeyPair, Pki

__all__ = ["KubeServer", "load_crds"]

BOOT_NAMESPACES = ("default", "kube-system", "kube-public")
_SAVE_INTERVAL = 0.5
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _cache_dir() -> Path:
    configured = os.environ.get("KUBEMU_CACHE_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / ".cache" / "kubemu"


@functools.lru_cache(maxsize=8)
def _parse_crds(directory: str, stamp: tuple[tuple[str, int, int], ...]) -> tuple[dict[str, Any], ...]:
    """Parse the CRD files; the result is cached as JSON on disk (YAML parsing of large CRDs is slow)."""
    digest = hashlib.sha256(json.dumps([directory, stamp]).encode()).hexdigest()[:24]
    cached = _cache_dir() / f"crds-{digest}.json"
    if cached.exists():
        return tuple(json.loads(cached.read_text()))
    docs: list[dict[str, Any]] = []
    for name, mtime_ns, size in stamp:
        with open(Path(directory, name), encoding="utf-8") as fh:
            docs += [d for d in yaml.load_all(fh, Loader=_YAML_LOADER)
                     if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(docs, default=str))
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only checkout: parse again next time
    return tuple(docs)


def _crd_documents(directory: str | os.PathLike[str] | None) -> tuple[dict[str, Any], ...]:
    if directory is None or not Path(directory).is_dir():
        return ()
    files = sorted(Path(directory).glob("*.yaml"))
    stamp = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    return _parse_crds(str(directory), stamp)


def load_crds(directory: str | os.PathLike[str] | None) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in ``directory``'s ``*.yaml`` (parsed once per content)."""
    return clone(list(_crd_documents(directory)))


class KubeServer:
    """An emulated API server.  ``start()`` returns once it listens; ``stop()`` shuts it down.

    ``state_dir`` (optional) keeps the CA, the admin token and the store across restarts.
    """

    def __init__(self, name: str = "hub", crd_dir: str | os.PathLike[str] | None = None, tls: bool = True,
                 port: int = 0, *, host: str = "127.0.0.1", state_dir: str | os.PathLike[str] | None = None) -> None:
        self.name = name
        self.crd_dir = crd_dir
        self.tls = tls
        self.host = host
        self._port = port
        self.state_dir = Path(state_dir) if state_dir else None
        self._pki = self._load_or_create_pki()
        self._admin_token = self._load_or_create_token()
        self.store = Store()
        self.registry = Registry()
        self.api = Api(self.store, self.registry, ca_pem=self._pki.ca.cert_pem)
        self.frontend = Frontend(self.api, admin_token=self._admin_token, address=lambda: f"{host}:{self._port}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._saved_rv = -1

    # ---- identity --------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def ca_pem(self) -> bytes:
        return self._pki.ca.cert_pem

    @property
    def admin_token(self) -> str:
        return self._admin_token

    @property
    def requests(self) -> Counter[tuple[str, str]]:
        """(HTTP method, plural) -> requests served; discovery requests count under their path."""
        return self.frontend.requests

    def reset_counters(self) -> None:
        self.frontend.requests.clear()

    def kubeconfig_dict(self, *, token: str | None = None, client_cert: bool = False,
                        context: str | None = None) -> dict[str, Any]:
        """A kubeconfig for this server: bearer ``token`` (the admin token by default) or a client cert."""
        context = context or self.name
        cluster: dict[str, Any] = {"server": self.url}
        if self.tls:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_pem).decode()
        if client_cert:
            pair = self._pki.client_pair()
            user: dict[str, Any] = {"client-certificate-data": base64.b64encode(pair.cert_pem).decode(),
                                    "client-key-data": base64.b64encode(pair.key_pem).decode()}
        else:
            user = {"token": token or self._admin_token}
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": context,
                "clusters": [{"name": context, "cluster": cluster}],
                "users": [{"name": f"{context}-admin", "user": user}],
                "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-admin"}}]}

    def write_kubeconfig(self, path: str | os.PathLike[str], **kwargs: Any) -> Path:
        """Write :meth:`kubeconfig_dict` as YAML (mode 0600) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.safe_dump(self.kubeconfig_dict(**kwargs), fh, sort_keys=False)
        return target

    # ---- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> "KubeServer":
        self._bootstrap()
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name=f"kubemu-{self.name}",
                                        daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise RuntimeError(f"kubemu {self.name}: cannot listen on {self.host}:{self._port}") from failure[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self.drop_watches()
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=30)
        self._thread.join(timeout=30)
        self._loop = self._thread = None
        self.save()

    def __enter__(self) -> "KubeServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._listen())
        except BaseException as e:  # noqa: BLE001 - handed to start()'s caller
            failure.append(e)
            ready.set()
            loop.close()
            return
        ready.set()
        if self.state_dir:
            loop.create_task(self._autosave())
        loop.run_forever()
        loop.close()

    async def _listen(self) -> None:
        self._runner = web.AppRunner(self.frontend.app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        ssl_ctx = self._pki.server_context(self._server_pair()) if self.tls else None
        site = web.TCPSite(self._runner, self.host, self._port, ssl_context=ssl_ctx, reuse_address=True)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        if self._runner:
            await self._runner.cleanup()
        asyncio.get_running_loop().call_soon(asyncio.get_running_loop().stop)

    def _bootstrap(self) -> None:
        """Restore persisted state; ensure the boot namespaces and the CRDs of ``crd_dir`` exist."""
        self._restore()
        with self.store.lock:
            ns_type = self.registry.lookup("", "v1", "namespaces")
            assert ns_type is not None
            for ns in BOOT_NAMESPACES:
                if self.store.get(ns_type.key, "", ns) is None:
                    self.api.create(ns_type, "v1", "", {"metadata": {"name": ns}})
            crd_type = self.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            assert crd_type is not None
            for crd in _crd_documents(self.crd_dir):  # read-only: create() copies
                if self.store.get(crd_type.key, "", crd["metadata"]["name"]) is None:
                    self.api.create(crd_type, "v1", "", crd)

    # ---- persistence -----------------------------------------------------------------------------------
    def _state_file(self, name: str) -> Path | None:
        if not self.state_dir:
            return None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return self.state_dir / name

    def _load_or_create_pki(self) -> Pki:
        ca_file = self._state_file("ca.pem")
        if ca_file and ca_file.exists():
            return Pki(KeyPair(ca_file.read_bytes(), self._state_file("ca.key").read_bytes()))  # type: ignore[union-attr]
        pki = Pki.create(self.name)
        if ca_file:
            ca_file.write_bytes(pki.ca.cert_pem)
            _write_private(self._state_file("ca.key"), pki.ca.key_pem)  # type: ignore[arg-type]
        return pki

    def _load_or_create_token(self) -> str:
        token_file = self._state_file("admin-token")
        if token_file and token_file.exists():
            return token_file.read_text().strip()
        token = secrets.token_urlsafe(32)
        if token_file:
            _write_private(token_file, token.encode())
        return token

    def _server_pair(self) -> KeyPair:
        return self._pki.server_pair(self.name)

    def _restore(self) -> None:
        store_file = self._state_file("store.json")
        if not store_file or not store_file.exists():
            return
        self.store.load(json.loads(store_file.read_text()))
        self._saved_rv = self.store.resource_version
        for entry in self.store.iter_entries(("apiextensions.k8s.io", "customresourcedefinitions")):
            self.registry.add_crd(crd_to_type(entry.obj))

    def save(self) -> None:
        """Write the store to ``state_dir`` (no-op without one or when nothing changed)."""
        store_file = self._state_file("store.json")
        if not store_file or self.store.resource_version == self._saved_rv:
            return
        data = self.store.dump()
        _write_private(store_file, json.dumps(data).encode())
        self._saved_rv = data["resourceVersion"]

    async def _autosave(self) -> None:
        while True:
            await asyncio.sleep(_SAVE_INTERVAL)
            self.save()

    # ---- direct access for tests acting as controllers -----------------------------------------------
    def _locate(self, api_version: str, kind: str, namespace: str | None) -> tuple[Any, str, str]:
        rtype = self.api.resolve(api_version, kind)
        version = api_version.rpartition("/")[2]
        return rtype, version, (namespace or "default") if rtype.namespaced else ""

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create like a POST (status kept as given); raises :class:`kubemu.ApiError`."""
        rtype, version, ns = self._locate(obj["apiVersion"], obj["kind"], (obj.get("metadata") or {}).get("namespace"))
        with self.store.lock:
            return clone(self.api.create(rtype, version, ns, obj, keep_status=True))

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        rtype, version, ns = self._locate(api_version, kind, namespace)
        try:
            return clone(self.api.get(rtype, version, ns, name))
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def serves(self, api_version: str, kind: str) -> bool:
        """Whether the server knows ``kind`` at ``api_version`` (built-in or through a CRD)."""
        return self.registry.by_kind(api_version, kind) is not None

    def list(self, api_version: str, kind: str, namespace: str | None = None, *,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        """The objects of a kind (all namespaces when ``namespace`` is None), as a LIST would return them."""
        rtype = self.api.resolve(api_version, kind)
        version = api_version.rpartition("/")[2]
        result = self.api.list(rtype, version, namespace if rtype.namespaced else None,
                               parse_label_selector(label_selector), parse_field_selector(None, kind))
        return clone(result["items"])

    def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace an object, status included (a stale metadata.resourceVersion raises a Conflict)."""
        meta = obj.get("metadata") or {}
        rtype, version, ns = self._locate(obj["apiVersion"], obj["kind"], meta.get("namespace"))
        with self.store.lock:
            return clone(self.api.update(rtype, version, ns, meta["name"], obj, subresource="*"))

    def patch_status(self, api_version: str, kind: str, name: str, namespace: str | None,
                     status: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch ``status`` through the status subresource, as a controller does."""
        rtype, version, ns = self._locate(api_version, kind, namespace)
        raw = json.dumps({"status": status}).encode()
        with self.store.lock:
            result = self.api.patch(rtype, version, ns, name, "application/merge-patch+json", raw,
                                    subresource="status")[0]
        return clone(result)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Delete like the API (finalizers honoured); None when the object does not exist."""
        rtype, version, ns = self._locate(api_version, kind, namespace)
        with self.store.lock:
            try:
                return clone(self.api.delete(rtype, version, ns, name))
            except ApiError as e:
                if e.code == 404:
                    return None
                raise

    def drop_watches(self) -> None:
        self.frontend.drop_watches()

    def compact(self) -> None:
        self.store.compact()


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
