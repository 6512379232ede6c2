# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-rulebook event source: Cluster API Clusters of a hub as they become ready, fail, rotate or go.

ansible-rulebook (1.3.2, ``ansible_rulebook/engine.py`` ``start_source``) loads this file with
``runpy.run_path`` and awaits ``main(queue, args)``; every dict put on ``queue`` is one event.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DOCUMENTATION = r"""
---
short_description: Cluster API Clusters on a hub, as they become ready, fail, rotate their kubeconfig or go.
description:
  - Watches the hub's Cluster API C(Cluster)s and their C(<cluster>-kubeconfig) Secrets with one LIST and one
    watch per kind (the list-and-watch code of M(multicluster.gitops.capi_cluster_wait)): a dropped stream is
    resumed from its last resourceVersion, C(410 Gone) re-lists, API errors are retried with back-off forever.
  - Puts one event per batch window on the queue, C({"capi": {"type": "changes", "cluster_ready": [...],
    "kubeconfig_rotated": [...], "cluster_deleted": [...], "cluster_failed": [...]}}), so 100 clusters turning
    ready together are one event. A cluster is ready when its control plane is initialized and its kubeconfig
    Secret exists; failed when Cluster API reports a failure (the condition text is in C(reason)) or its
    kubeconfig Secret holds no usable kubeconfig; deleted when it is being deleted or gone.
  - Also puts C({"capi": {"type": "resync", "clusters": [...]}}) with every cluster at start and every
    O(resync_period) seconds, so a consumer that missed an event heals.
  - No event carries a credential: kubeconfigs are read only to tell a usable one from a malformed one and to
    notice a rotation (by a sha256 fingerprint that is not emitted).
options:
  kubeconfig:
    description:
      - Path of the hub's kubeconfig. Then E(K8S_AUTH_KUBECONFIG), E(KUBECONFIG), C(~/.kube/config), the
        in-cluster service account (the precedence of the collection's k8s modules).
    type: str
  context:
    description: Context of the kubeconfig (E(K8S_AUTH_CONTEXT)).
    type: str
  host:
    description: URL of the hub's API server (E(K8S_AUTH_HOST)); the kubeconfig is then not read.
    type: str
  api_key:
    description: Bearer token for O(host) (E(K8S_AUTH_API_KEY)).
    type: str
  validate_certs:
    description: Whether to verify the API server's certificate (E(K8S_AUTH_VERIFY_SSL)).
    type: bool
  ca_cert:
    description: CA certificate file of the API server (E(K8S_AUTH_SSL_CA_CERT)).
    type: str
  namespace:
    description: Watch this namespace only; every namespace when unset.
    type: str
  label_selector:
    description: Watch only the Clusters matching this label selector.
    type: str
  batch_window:
    description: Seconds to gather changes after the first one before emitting them as one event.
    type: float
    default: 2.0
  resync_period:
    description: Seconds between two C(resync) events; 0 emits one at start only.
    type: float
    default: 300
"""

EXAMPLES = r"""
- name: Register Cluster API clusters in Argo CD as they come and go
  hosts: localhost
  sources:
    - multicluster.gitops.capi_clusters:
        namespace: workloads
        batch_window: 2
        resync_period: 300
  rules:
    - name: Reconcile the Argo CD cluster Secrets
      condition: event.capi is defined
      action:
        run_playbook:
          name: multicluster.gitops.register
"""


def _importable() -> None:
    """Make ``ansible_collections.multicluster.gitops`` importable: ansible-rulebook runs this file outside
    Ansible's collection loader. The file sits at <root>/ansible_collections/multicluster/gitops/extensions/
    eda/plugins/event_source/ when installed; else the collection paths of the environment are tried."""
    try:
        import ansible_collections.multicluster.gitops.plugins.module_utils._capi_wait  # noqa: F401 pylint: disable=unused-import
        return
    except ImportError:
        pass
    here = Path(os.path.abspath(__file__)).parents
    candidates = [str(here[6])] if len(here) > 6 and here[5].name == "ansible_collections" else []
    for var in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"):
        candidates.extend(p for p in os.environ.get(var, "").split(os.pathsep) if p)
    candidates.append(str(Path(os.path.realpath(__file__)).parents[4] / ".cache" / "collections"))
    for path in candidates:
        if path not in sys.path and os.path.isdir(os.path.join(path, "ansible_collections")):
            sys.path.append(path)


_importable()

# pylint: disable=wrong-import-position
from ansible_collections.multicluster.gitops.plugins.module_utils._capi import capi_cluster_resource, is_oke  # noqa: E402
from ansible_collections.multicluster.gitops.plugins.module_utils._capi_status import (  # noqa: E402
    interpret, reached,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._capi_wait import (  # noqa: E402
    _Reflector, backoff, transient,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError  # noqa: E402
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import (  # noqa: E402
    SECRET, KubeClient, Resource, kube_client,
)

import yaml  # noqa: E402

log = logging.getLogger("multicluster.gitops.capi_clusters")

# The label CAPI puts on every kubeconfig Secret it writes (kubernetes-sigs/cluster-api @ v1.12.5 :
# util/kubeconfig/kubeconfig.go, GenerateSecretWithOwner); the Secret watch selects on it, so the other Secrets of
# the namespace cost nothing.
KUBECONFIG_SELECTOR = "cluster.x-k8s.io/cluster-name"
CREDENTIAL_MODE_LABEL = "multicluster.gitops/credential-mode"
# A watch runs for ever: the reflector's deadline is this far away.
_FOREVER = 10.0 ** 9
EVENT_TYPES = ("cluster_ready", "kubeconfig_rotated", "cluster_deleted", "cluster_failed")
_AUTH_ENV = {"kubeconfig": "K8S_AUTH_KUBECONFIG", "context": "K8S_AUTH_CONTEXT", "host": "K8S_AUTH_HOST",
             "api_key": "K8S_AUTH_API_KEY", "validate_certs": "K8S_AUTH_VERIFY_SSL",
             "ca_cert": "K8S_AUTH_SSL_CA_CERT"}


@dataclass
class Settings:
    """The plugin's arguments, with the environment fallbacks of the collection's k8s auth options."""

    auth: dict[str, Any]
    namespace: str | None = None
    label_selector: str | None = None
    batch_window: float = 2.0
    resync_period: float = 300.0

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> "Settings":
        known = set(_AUTH_ENV) | {"namespace", "label_selector", "batch_window", "resync_period", "eda_feedback_queue"}
        unknown = set(args) - known
        if unknown:
            raise ValueError(f"multicluster.gitops.capi_clusters: unknown option(s) {sorted(unknown)}; see the "
                             "plugin's DOCUMENTATION for the options it takes")
        auth: dict[str, Any] = {}
        for opt, env in _AUTH_ENV.items():
            value = args.get(opt)
            if value in (None, "") and os.environ.get(env):
                value = os.environ[env]
                if opt == "validate_certs":
                    value = value.lower() in ("1", "true", "yes", "on")
            if value not in (None, ""):
                auth[opt] = value
        window = float(args.get("batch_window", 2.0))
        period = float(args.get("resync_period", 300.0))
        if window < 0 or period < 0:
            raise ValueError("multicluster.gitops.capi_clusters: batch_window and resync_period must be >= 0")
        return cls(auth=auth, namespace=args.get("namespace") or None,
                   label_selector=args.get("label_selector") or None, batch_window=window, resync_period=period)


def kubeconfig_problem(secret: dict[str, Any]) -> str | None:
    """Why the kubeconfig in a CAPI kubeconfig Secret (``data.value``) cannot be used, or None. The reason
    never quotes the content (a YAML error would show a line of it)."""
    value = (secret.get("data") or {}).get("value")
    if not value:
        return "has no data.value"
    try:
        text = base64.b64decode(value, validate=False)
        config = yaml.safe_load(text)
    except (binascii.Error, ValueError, yaml.YAMLError):
        return "does not hold a YAML kubeconfig in data.value"
    if not isinstance(config, dict):
        return "does not hold a kubeconfig (data.value is not a mapping)"
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or [] if isinstance(c, dict)}
    clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or [] if isinstance(c, dict)}
    context = contexts.get(config.get("current-context"))
    if context is None:
        return "has no current-context that names one of its contexts"
    cluster = clusters.get(context.get("cluster"))
    if not cluster or not str(cluster.get("server") or "").startswith(("https://", "http://")):
        return "names no cluster with a server URL in its current context"
    return None


def _fingerprint(secret: dict[str, Any]) -> str:
    return hashlib.sha256(str((secret.get("data") or {}).get("value") or "").encode()).hexdigest()


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


@dataclass
class _Kubeconfig:
    fingerprint: str
    problem: str | None


class _LoopStore:
    """The store the reflector threads write to (the interface of ``_capi_wait._Store``: replace, apply, fail,
    last_error): the latest Clusters and kubeconfig fingerprints; every change wakes the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        self.lock = threading.Lock()
        self.clusters: dict[str, dict[str, Any]] = {}
        self.kubeconfigs: dict[str, _Kubeconfig] = {}
        self.errors: list[Exception] = []
        self.last_error: Exception | None = None
        self.loop, self.wake = loop, wake

    def _kubeconfig_entry(self, obj: dict[str, Any]) -> tuple[str, _Kubeconfig] | None:
        name = (obj.get("metadata") or {}).get("name") or ""
        if not name.endswith("-kubeconfig"):
            return None
        return _key(obj), _Kubeconfig(_fingerprint(obj), kubeconfig_problem(obj))

    def replace(self, kind: str, items: list[dict[str, Any]]) -> None:
        with self.lock:
            if kind == "clusters":
                self.clusters = {_key(o): _slim(o) for o in items}
            else:
                self.kubeconfigs = dict(e for e in map(self._kubeconfig_entry, items) if e)
        self._notify()

    def apply(self, kind: str, etype: str, obj: dict[str, Any]) -> None:
        with self.lock:
            if kind == "clusters":
                if etype == "DELETED":
                    self.clusters.pop(_key(obj), None)
                else:
                    self.clusters[_key(obj)] = _slim(obj)
            else:
                entry = self._kubeconfig_entry(obj)
                if entry and etype == "DELETED":
                    self.kubeconfigs.pop(entry[0], None)
                elif entry:
                    self.kubeconfigs[entry[0]] = entry[1]
        self._notify()

    def fail(self, error: Exception) -> None:
        with self.lock:
            self.errors.append(error)
        self._notify()

    def snapshot(self) -> tuple[dict[str, dict[str, Any]], dict[str, _Kubeconfig]]:
        with self.lock:
            return dict(self.clusters), dict(self.kubeconfigs)

    def _notify(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.wake.set)
        except RuntimeError:  # the loop is closed: the source has stopped
            pass


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    """What the source keeps of a Cluster: metadata without managedFields, spec refs, status."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": meta,
            "spec": obj.get("spec") or {}, "status": obj.get("status") or {}}


@dataclass
class ClusterState:
    """What the source reports of one cluster."""

    namespace: str
    name: str
    state: str  # ready | pending | failed | deleting
    phase: str
    reason: str | None
    oke: bool
    credential_mode: str | None
    fingerprint: str | None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def payload(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "state": self.state, "phase": self.phase,
                "reason": self.reason, "oke": self.oke, "credential_mode": self.credential_mode,
                "kubeconfig_secret": f"{self.name}-kubeconfig", "labels": dict(self.labels)}


def classify(obj: dict[str, Any], kubeconfig: _Kubeconfig | None) -> ClusterState:
    """A Cluster's state: ready once the control plane is initialized and the kubeconfig Secret exists
    (Cluster API v1.12 ``ControlPlaneInitialized``, or ``status.initialization.controlPlaneInitialized``)."""
    view = interpret(obj)
    labels = (obj.get("metadata") or {}).get("labels") or {}
    reason = None
    if view.deleting:
        state = "deleting"
    elif view.terminal:
        state, reason = "failed", view.terminal
    elif kubeconfig is not None and kubeconfig.problem and reached(view, "control_plane_initialized"):
        state = "failed"
        reason = f"kubeconfig Secret {view.namespace}/{view.name}-kubeconfig {kubeconfig.problem}"
    elif kubeconfig is not None and reached(view, "control_plane_initialized"):
        state = "ready"
    else:
        state = "pending"
    return ClusterState(namespace=view.namespace, name=view.name, state=state, phase=view.phase, reason=reason,
                        oke=is_oke(obj), credential_mode=labels.get(CREDENTIAL_MODE_LABEL),
                        fingerprint=kubeconfig.fingerprint if kubeconfig else None, labels=dict(labels))


def diff(before: dict[str, ClusterState], after: dict[str, ClusterState]) -> dict[str, list[dict[str, Any]]]:
    """The events between two views of the hub: each cluster at most once per kind."""
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in EVENT_TYPES}
    for key, now in sorted(after.items()):
        old = before.get(key)
        if now.state == "ready" and (old is None or old.state != "ready"):
            out["cluster_ready"].append(now.payload())
        elif now.state == "ready" and old is not None and old.fingerprint != now.fingerprint:
            out["kubeconfig_rotated"].append(now.payload())
        elif now.state == "failed" and (old is None or old.state != "failed" or old.reason != now.reason):
            out["cluster_failed"].append(now.payload())
        elif now.state == "deleting" and old is not None and old.state != "deleting":
            out["cluster_deleted"].append(now.payload())
    for key in sorted(set(before) - set(after)):
        if before[key].state != "deleting":
            gone = before[key].payload()
            gone["state"] = "deleted"
            out["cluster_deleted"].append(gone)
    return out


class CapiClusterSource:
    """Reflectors in threads, a batching loop in asyncio."""

    def __init__(self, settings: Settings, queue: asyncio.Queue, *, client: KubeClient | None = None) -> None:
        self.settings = settings
        self.queue = queue
        self.client = client
        self.known: dict[str, ClusterState] = {}
        self.sequence = 0
        self.batches = 0
        self.stop = threading.Event()
        self.reflectors: list[_Reflector] = []

    def _client(self) -> KubeClient:
        if self.client is None:
            self.client = kube_client(dict(self.settings.auth))
        return self.client

    async def _resource(self) -> Resource:
        """The Cluster resource at the version the hub prefers; retried for ever while the hub is away."""
        errors = 0
        while True:
            try:
                return await asyncio.to_thread(capi_cluster_resource, self._client())
            except ApiError as e:
                errors += 1
                log.warning("capi_clusters: discovery of cluster.x-k8s.io failed (%s); retrying", e)
                await asyncio.sleep(backoff(errors) if transient(e) else 5.0)

    def _start_reflectors(self, res: Resource, store: _LoopStore, listed: dict[str, str | None]) -> None:
        """Watch each kind from the resourceVersion of its first LIST (a reflector lists again only on 410)."""
        scope = self.settings.namespace
        deadline = time.monotonic() + _FOREVER
        self.reflectors = [
            _Reflector(self._client(), res, "clusters", store, namespace=scope,
                       label_selector=self.settings.label_selector, resource_version=listed.get("clusters"),
                       stop=self.stop, deadline=deadline),
            _Reflector(self._client(), SECRET, "secrets", store, namespace=scope, label_selector=KUBECONFIG_SELECTOR,
                       resource_version=listed.get("secrets"), stop=self.stop, deadline=deadline),
        ]
        for r in self.reflectors:
            r.start()

    def _restart_failed(self, store: _LoopStore) -> None:
        """A reflector that met a lasting error (403 while RBAC is missing, 404) ends; start it again, after the
        back-off, so the source never gives up."""
        with store.lock:
            errors, store.errors = store.errors, []
        for e in errors:
            log.error("capi_clusters: watching the hub failed: %s; retrying in 5s", e)
        for i, r in enumerate(self.reflectors):
            if not r.is_alive() and not self.stop.is_set():
                fresh = _Reflector(r.client, r.res, r.kind, store, namespace=r.namespace,
                                   label_selector=r.label_selector, resource_version=None, stop=self.stop,
                                   deadline=r.deadline)
                fresh.relists, fresh.resumes = r.relists, r.resumes
                fresh.start()
                self.reflectors[i] = fresh

    def current(self, store: _LoopStore) -> dict[str, ClusterState]:
        clusters, kubeconfigs = store.snapshot()
        out = {}
        for key, obj in clusters.items():
            ns, name = key.split("/", 1)
            out[key] = classify(obj, kubeconfigs.get(f"{ns}/{name}-kubeconfig"))
        return out

    def _event(self, etype: str, body: dict[str, Any]) -> dict[str, Any]:
        self.sequence += 1
        return {"capi": {"type": etype, "sequence": self.sequence,
                         "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                         "hub": self._client().host, "namespace": self.settings.namespace,
                         "label_selector": self.settings.label_selector, **body}}

    async def _resync(self, store: _LoopStore) -> None:
        self.known = self.current(store)
        clusters = [self.known[key].payload() for key in sorted(self.known)]
        counts = {state: sum(1 for c in clusters if c["state"] == state)
                  for state in ("ready", "pending", "failed", "deleting")}
        await self.queue.put(self._event("resync", {"clusters": clusters, "counts": counts}))

    async def _flush(self, store: _LoopStore) -> None:
        now = self.current(store)
        changes = diff(self.known, now)
        self.known = now
        if any(changes.values()):
            self.batches += 1
            counts = {k: len(v) for k, v in changes.items()}
            await self.queue.put(self._event("changes", {**changes, "counts": counts}))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        store = _LoopStore(loop, wake)
        res = await self._resource()
        # The first LIST of each kind, before any event, so the start-up resync holds the whole hub.
        listed = {}
        for kind, resource, selector in (("clusters", res, self.settings.label_selector),
                                         ("secrets", SECRET, KUBECONFIG_SELECTOR)):
            listed[kind] = await self._initial_list(store, kind, resource, selector)
        try:
            self._start_reflectors(res, store, listed)
            await self._resync(store)
            next_resync = loop.time() + self.settings.resync_period if self.settings.resync_period else None
            while True:
                timeout = None if next_resync is None else max(next_resync - loop.time(), 0)
                try:
                    await asyncio.wait_for(wake.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
                if wake.is_set():
                    # Gather what else changes within the window, then emit it as one event.
                    await asyncio.sleep(self.settings.batch_window)
                    wake.clear()
                    if store.errors:
                        await asyncio.sleep(5.0)
                        self._restart_failed(store)
                    await self._flush(store)
                if next_resync is not None and loop.time() >= next_resync:
                    await self._resync(store)
                    next_resync = loop.time() + self.settings.resync_period
        finally:
            self.stop.set()

    async def _initial_list(self, store: _LoopStore, kind: str, res: Resource, selector: str | None) -> str | None:
        """One LIST, retried for ever while the hub is away; its resourceVersion."""
        errors = 0
        while True:
            try:
                data = await asyncio.to_thread(self._client().list, res, self.settings.namespace,
                                               label_selector=selector)
                store.replace(kind, data.get("items") or [])
                return (data.get("metadata") or {}).get("resourceVersion")
            except ApiError as e:
                errors += 1
                log.warning("capi_clusters: listing %s failed (%s); retrying", res.plural, e)
                await asyncio.sleep(backoff(errors) if transient(e) else 5.0)


async def main(queue: asyncio.Queue, args: dict[str, Any]) -> None:
    """Entry point of an ansible-rulebook event source."""
    await CapiClusterSource(Settings.from_args(args), queue).run()


if __name__ == "__main__":
    class _PrintQueue(asyncio.Queue):
        async def put(self, item: Any) -> None:
            print(item)  # noqa: T201

    asyncio.run(main(_PrintQueue(), {"batch_window": 1, "resync_period": 60}))
