# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait for Cluster API Clusters with one LIST and one watch per kind (Clusters, Secrets).

Each kind is listed once, then watched from the LIST's resourceVersion in a thread that keeps a
local copy up to date, like client-go's reflector: a stream that ends or drops is resumed from the
last resourceVersion seen (bookmarks included); ``410 Gone`` (history compacted) re-lists. The
caller's thread sleeps on a condition variable and, after each change, evaluates again only the
clusters whose Cluster object or kubeconfig Secret changed (every cluster after a re-list), so the
wait costs a constant number of requests however many clusters it covers, a wake-up costs what
changed, and it returns as soon as the last one is ready or any one fails.

``wait_for_clusters`` either waits until the end (``known=None``) or, for progress reporting, returns
as soon as any cluster's summary differs from ``known``, or when nothing changed for ``quiet_seconds``
(the action plugin calls it round after round, prints what changed, and a heartbeat line after a quiet
round).

With ``stop_on_failure=False`` a failed (or deleted) cluster does not end the wait: the others are
waited for, and the outcome lists the failed ones (``not_ready``) instead of raising; a timeout
then also returns, listing the clusters still pending as not ready.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.multicluster.gitops.plugins.module_utils._capi_status import (
    ClusterView, describe, display_names, interpret, reached, summary,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._capi import capi_cluster_resource
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import (
    ApiError, CollectionError, InvalidInput, ResourceTimeout,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import SECRET, KubeClient, Resource
from ansible_collections.multicluster.gitops.plugins.module_utils._retry import TRANSIENT_STATUSES

__all__ = ["ClusterFailed", "WaitSpec", "wait_for_clusters", "spec_from_params", "run",
           "public_result"]

# Longest single watch request; the stream is resumed from its last resourceVersion afterwards.
_WATCH_SECONDS = 300
# Back-off between failed watch or list attempts (the client has already retried each request).
_BACKOFF_BASE = 0.2
_BACKOFF_CAP = 5.0
# A progress round that saw a change waits until the API is quiet this long (at most _SETTLE_MAX) before
# returning, so the writes of one reconcile (a Secret and the status) are shown together.
_SETTLE_QUIET = 0.2
_SETTLE_MAX = 1.0


class ClusterFailed(CollectionError):
    """At least one cluster failed, or was deleted, during the wait. `result` holds every cluster's state."""

    def __init__(self, msg: str, *, result: Any = None) -> None:
        super().__init__(msg, result=result)
        self.result = result


@dataclass
class WaitSpec:
    """What to wait for. ``names`` are 'namespace/name' keys; empty with ``label_selector`` set means
    every Cluster matching it (in ``namespace`` or across namespaces)."""

    names: list[str] = field(default_factory=list)
    namespace: str | None = None
    label_selector: str | None = None
    wait_for: str = "available"
    timeout: float = 1800.0
    fail_fast: bool = True
    stop_on_failure: bool = True
    check_mode: bool = False
    # Progress rounds: summaries already shown, seconds spent in earlier rounds, when each became ready.
    known: dict[str, str] | None = None
    elapsed: float = 0.0
    # Wall-clock (epoch seconds) when the task started: the timeout then also covers module start-up.
    started_at: float | None = None
    # A progress round with nothing to report returns after this many seconds (for a heartbeat); None: never.
    quiet_seconds: float | None = None
    ready_at: dict[str, float] = field(default_factory=dict)
    # Keys seen as existing at some point: one missing later was deleted during the wait.
    seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.seen.update(k for k, s in (self.known or {}).items() if s != "absent")
        self.seen.update(self.ready_at)

    @property
    def scope(self) -> str | None:
        """The one namespace to list and watch, or None for all namespaces."""
        if self.names:
            namespaces = {k.split("/", 1)[0] for k in self.names}
            return namespaces.pop() if len(namespaces) == 1 else None
        return self.namespace


def transient(e: ApiError) -> bool:
    """Whether an error the client gave up on may still go away: no HTTP answer, 429 or 5xx."""
    return e.status is None or e.status in TRANSIENT_STATUSES


def backoff(errors: int) -> float:
    """Seconds to wait after ``errors`` consecutive failures: capped exponential."""
    return min(_BACKOFF_BASE * 2 ** errors, _BACKOFF_CAP)


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


_KUBECONFIG_SUFFIX = "-kubeconfig"


class _Store:
    """The latest objects seen, shared between watch threads and the waiting thread.

    ``dirty`` holds the clusters ('ns/name') whose Cluster object or kubeconfig Secret changed since the waiting
    thread last looked (:meth:`take_changes`); ``all_dirty`` says every cluster must be looked at (a (re-)list);
    ``members`` counts changes to the set of Cluster keys."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.clusters: dict[str, dict[str, Any]] = {}
        self.secrets: set[str] = set()
        self.generation = 0
        self.error: Exception | None = None
        # The latest transient failure, shown if the wait then times out.
        self.last_error: Exception | None = None
        self.dirty: set[str] = set()
        self.all_dirty = True
        self.members = 0

    def replace(self, kind: str, items: list[dict[str, Any]]) -> None:
        with self.cond:
            if kind == "clusters":
                self.clusters = {_key(o): o for o in items}
                self.members += 1
            else:
                self.secrets = {_key(o) for o in items}
            self.all_dirty = True
            self._changed()

    def apply(self, kind: str, etype: str, obj: dict[str, Any]) -> None:
        key = _key(obj)
        with self.cond:
            if kind == "clusters":
                if etype == "DELETED":
                    self.clusters.pop(key, None)
                    self.members += 1
                else:
                    self.members += key not in self.clusters
                    self.clusters[key] = obj
                self.dirty.add(key)
            else:
                if etype == "DELETED":
                    self.secrets.discard(key)
                else:
                    self.secrets.add(key)
                if key.endswith(_KUBECONFIG_SUFFIX):  # any other Secret of the namespace concerns no cluster
                    self.dirty.add(key[:-len(_KUBECONFIG_SUFFIX)])
            self._changed()

    def take_changes(self) -> set[str] | None:
        """The clusters changed since the last call (None: all of them); the caller holds ``cond``."""
        dirty = None if self.all_dirty else self.dirty
        self.dirty, self.all_dirty = set(), False
        return dirty

    def fail(self, error: Exception) -> None:
        with self.cond:
            self.error = error
            self._changed()

    def _changed(self) -> None:
        self.generation += 1
        self.cond.notify_all()


class _Reflector(threading.Thread):
    """Keeps one kind of `_Store` current: LIST, then watch from its resourceVersion, resume, re-list on 410."""

    def __init__(self, client: KubeClient, res: Resource, kind: str, store: _Store, *, namespace: str | None,
                 label_selector: str | None, resource_version: str | None, stop: threading.Event,
                 deadline: float) -> None:
        super().__init__(name=f"capi-wait-{kind}", daemon=True)
        self.client, self.res, self.kind, self.store = client, res, kind, store
        self.namespace, self.label_selector = namespace, label_selector
        self.rv = resource_version
        self.stop, self.deadline = stop, deadline
        self.relists = 0
        self.resumes = 0

    def list(self) -> None:
        data = self.client.list(self.res, self.namespace, label_selector=self.label_selector)
        self.rv = (data.get("metadata") or {}).get("resourceVersion")
        self.store.replace(self.kind, data.get("items") or [])

    def run(self) -> None:
        """Until stopped: (re-)list when needed, then watch. Transient failures (5xx, 429, cut or refused
        connections, timeouts) are retried with capped back-off for as long as the wait lasts, as client-go's
        reflector does; anything else (403, 404, a bad selector) ends the wait at once."""
        errors = 0
        while not self.stop.is_set():
            try:
                if self.rv is None:
                    self.relists += 1
                    self.list()
                if self._watch_once():
                    errors = 0
                    self.store.last_error = None
            except ApiError as e:
                if e.status == 410:
                    self.rv = None
                    continue
                if not transient(e):
                    self.store.fail(e)
                    return
                errors += 1
                self.store.last_error = e
                self.stop.wait(backoff(errors))
            except Exception as e:  # a dropped stream surfaces as urllib3/http.client errors
                errors += 1
                self.store.last_error = ApiError(f"watching {self.res.plural} on {self.client.host} failed: {e}",
                                                 reason=type(e).__name__)
                self.stop.wait(backoff(errors))

    def _watch_once(self) -> bool:
        """One watch request; True when it delivered at least one event."""
        remaining = self.deadline - time.monotonic()
        seconds = max(1, min(_WATCH_SECONDS, math.ceil(remaining) + 1))
        got = False
        for event in self.client.watch(self.res, self.namespace, resource_version=self.rv,
                                       label_selector=self.label_selector, timeout_seconds=seconds):
            got = True
            etype, obj = event.get("type"), event.get("object") or {}
            if etype == "ERROR":
                if obj.get("code") == 410:
                    self.rv = None
                    return got
                raise ApiError(f"watch {self.res.plural}: {obj.get('message')}", status=obj.get("code"),
                               reason=obj.get("reason"), body=obj)
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.rv = rv
            if etype in ("ADDED", "MODIFIED", "DELETED"):
                self.store.apply(self.kind, etype, obj)
            if self.stop.is_set():
                return got
        self.resumes += 1
        return got


@dataclass
class _Evaluation:
    clusters: list[dict[str, Any]]
    summaries: dict[str, str]
    ready: list[str]
    failed: list[str]
    pending: list[str]
    lines: dict[str, str]


@dataclass
class _Entry:
    """One cluster's state as last evaluated (its result without ``seconds_waited``, which moves with time)."""

    state: str
    summary: str
    view: ClusterView | None
    secret_found: bool
    deleted: bool
    result: dict[str, Any]


_BUCKETS = {"ready": "ready", "failed": "failed", "deleted": "failed", "waiting": "pending", "not_found": "pending"}


class _Evaluator:
    """Keeps every target's :class:`_Entry` and evaluates again only the clusters the store says changed."""

    def __init__(self, spec: WaitSpec) -> None:
        self.spec = spec
        self.keys: list[str] = list(spec.names)
        self.entries: dict[str, _Entry] = {}
        self.counts = {"ready": 0, "failed": 0, "pending": 0}
        self.members = -1
        # Clusters evaluated so far: a wake-up costs what changed, not the size of the fleet.
        self.evaluations = 0

    def update(self, store: _Store, elapsed: float) -> None:
        spec = self.spec
        with store.cond:
            changed = store.take_changes()
            if not spec.names and (store.members != self.members or changed is None):
                self.members = store.members
                self.keys = sorted(set(store.clusters) | spec.seen)
                for key in set(self.entries) - set(self.keys):
                    self._count(self.entries.pop(key).state, -1)
            if changed is None:
                todo = self.keys
            else:
                todo = [k for k in changed if k in self.entries]
                if len(self.entries) < len(self.keys):  # targets never evaluated yet
                    todo += [k for k in self.keys if k not in self.entries]
            snapshot = [(key, store.clusters.get(key), f"{key}{_KUBECONFIG_SUFFIX}" in store.secrets) for key in todo]
        for key, obj, secret_found in snapshot:
            self._evaluate(key, obj, secret_found, elapsed)

    def _count(self, state: str, delta: int) -> None:
        self.counts[_BUCKETS[state]] += delta

    def _evaluate(self, key: str, obj: dict[str, Any] | None, secret_found: bool, elapsed: float) -> None:
        spec = self.spec
        self.evaluations += 1
        ns, name = key.split("/", 1)
        view: ClusterView | None = interpret(obj, fail_fast=spec.fail_fast) if obj else None
        deleted = view is None and key in spec.seen
        if view is not None:
            spec.seen.add(key)
        if view is not None and reached(view, spec.wait_for) and secret_found and not view.deleting:
            state = "ready"
            spec.ready_at.setdefault(key, round(elapsed, 3))
        elif deleted or (view is not None and (view.terminal or view.deleting)):
            state = "deleted" if deleted else "failed"
        else:
            state = "waiting" if view is not None else "not_found"
        old = self.entries.get(key)
        if old is not None:
            self._count(old.state, -1)
        self._count(state, 1)
        self.entries[key] = _Entry(
            state=state, summary="deleted" if deleted else summary(view, secret_found=secret_found), view=view,
            secret_found=secret_found, deleted=deleted,
            result=_result(ns, name, view, state=state, secret_name=f"{name}{_KUBECONFIG_SUFFIX}",
                           secret_found=secret_found, seconds=0.0, obj=obj))

    @property
    def failed(self) -> bool:
        return self.counts["failed"] > 0

    @property
    def pending(self) -> bool:
        return self.counts["pending"] > 0

    def summaries(self) -> dict[str, str]:
        return {key: self.entries[key].summary for key in self.keys}

    def evaluation(self, elapsed: float) -> _Evaluation:
        """Every target's state, in order: built only when the wait reports."""
        spec = self.spec
        labels = display_names(self.keys)
        ev = _Evaluation([], {}, [], [], [], {})
        lists = {"ready": ev.ready, "failed": ev.failed, "pending": ev.pending}
        for key in self.keys:
            entry = self.entries[key]
            ev.summaries[key] = entry.summary
            lists[_BUCKETS[entry.state]].append(key)
            ev.lines[key] = describe(labels[key], entry.view, wait_for=spec.wait_for,
                                     secret_name=entry.result["kubeconfig_secret"], secret_found=entry.secret_found,
                                     deleted=entry.deleted)
            ev.clusters.append({**entry.result, "seconds_waited": spec.ready_at.get(key, round(elapsed, 3))})
        return ev


def _result(ns: str, name: str, view: ClusterView | None, *, state: str, secret_name: str, secret_found: bool,
            seconds: float, obj: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": ns,
        "api_version": (obj or {}).get("apiVersion"),
        "state": state,
        "ready": state == "ready",
        "phase": view.phase if view else None,
        "conditions": [c.as_dict() for c in view.conditions] if view else [],
        "control_plane_endpoint": view.endpoint if view else None,
        "kubeconfig_secret": secret_name,
        "kubeconfig_secret_found": secret_found,
        "seconds_waited": seconds,
    }


def not_ready(ev: _Evaluation, *, timed_out: bool) -> list[dict[str, Any]]:
    """The clusters that failed (and, after a timeout, those still pending), each with its message line."""
    by_key = {f"{c['namespace']}/{c['name']}": c for c in ev.clusters}
    keys = ev.failed + (ev.pending if timed_out else [])
    return [{"name": by_key[k]["name"], "namespace": by_key[k]["namespace"], "state": by_key[k]["state"],
             "message": ev.lines[k] + (" (still waiting at the timeout)" if k in ev.pending else "")} for k in keys]


def _outcome(spec: WaitSpec, ev: _Evaluation, *, elapsed: float, resource: Resource,
             timed_out: bool = False) -> dict[str, Any]:
    return {
        "clusters": ev.clusters,
        "wait_for": spec.wait_for,
        "api_version": resource.api_version,
        "elapsed": round(elapsed, 3),
        "ready": list(ev.ready),
        "pending": list(ev.pending),
        "failed_clusters": list(ev.failed),
        "not_ready": not_ready(ev, timed_out=timed_out),
        "timed_out": timed_out,
        "summaries": ev.summaries,
        "ready_at": dict(spec.ready_at),
    }


def _failure_message(spec: WaitSpec, ev: _Evaluation) -> str:
    total = len(ev.summaries)
    lines = [ev.lines[k] for k in ev.failed]
    return (f"{len(ev.failed)} of {total} Cluster(s) cannot reach {spec.wait_for}: " + " | ".join(lines)
            + ". Fix the cause shown (quota, image, network, credentials) and run again.")


def _timeout_message(spec: WaitSpec, ev: _Evaluation, elapsed: float, *, host: str,
                     last_error: Exception | None = None) -> str:
    lines = [ev.lines[k] for k in ev.pending]
    api = f" The API server at {host} was failing: {last_error}." if last_error is not None else ""
    return (f"Timed out after {int(elapsed)}s waiting on {host} for {len(ev.pending)} of {len(ev.summaries)} "
            f"Cluster(s) to reach {spec.wait_for}: " + " | ".join(lines) + "." + api
            + " Look at the false conditions above, or raise 'timeout' if provisioning is just slow.")


def _settle(store: _Store, *, until: float) -> None:
    with store.cond:
        while True:
            generation = store.generation
            quiet = min(_SETTLE_QUIET, until - time.monotonic())
            if quiet <= 0 or not store.cond.wait_for(lambda: store.generation != generation, timeout=quiet):
                return


def _until_deadline(call: Any, what: str, client: KubeClient, spec: WaitSpec, store: _Store, *,
                    started: float, deadline: float) -> Any:
    """``call()``, tried again through transient failures (the client's own retries spent) until the deadline."""
    errors = 0
    while True:
        try:
            return call()
        except ApiError as e:
            if not transient(e):
                raise
            errors += 1
            if time.monotonic() + backoff(errors) >= deadline:
                elapsed = spec.elapsed + time.monotonic() - started
                names = ", ".join(spec.names) or f"the Clusters matching {spec.label_selector or 'anything'}"
                raise ResourceTimeout(
                    f"Timed out after {int(elapsed)}s: the API server at {client.host} did not answer {what} "
                    f"({e}); still pending: {names}. Check that the hub is up and reachable.",
                    result={"elapsed": round(elapsed, 3), "pending": list(spec.names), "clusters": []}) from e
            store.last_error = e
            time.sleep(backoff(errors))


def wait_for_clusters(client: KubeClient, spec: WaitSpec, *, resource: Resource | None = None) -> dict[str, Any]:
    """Wait as ``spec`` says. Returns the outcome dict with ``done`` (True when every cluster is ready);
    raises ClusterFailed, ResourceTimeout (both with ``result``), ApiError or InvalidInput.

    ``done`` is False only in check mode (nothing is waited for) or when ``spec.known`` is given and a
    summary changed (a progress round ended)."""
    started = time.monotonic()
    if spec.started_at is not None:
        spec.elapsed = max(spec.elapsed, time.time() - spec.started_at)
    store = _Store()
    scope = spec.scope
    selector = None if spec.names else spec.label_selector
    remaining = spec.timeout - spec.elapsed
    deadline = started + max(remaining, 0)
    retrying = {"client": client, "spec": spec, "store": store, "started": started, "deadline": deadline}
    res = resource or _until_deadline(lambda: capi_cluster_resource(client), "the discovery of cluster.x-k8s.io",
                                      **retrying)
    stop = threading.Event()
    reflectors = [
        _Reflector(client, res, "clusters", store, namespace=scope, label_selector=selector, resource_version=None,
                   stop=stop, deadline=deadline),
        _Reflector(client, SECRET, "secrets", store, namespace=scope, label_selector=None, resource_version=None,
                   stop=stop, deadline=deadline),
    ]
    for r in reflectors:
        _until_deadline(r.list, f"the list of {r.res.plural}", **retrying)
    evaluator = _Evaluator(spec)

    def report(elapsed: float, timed_out: bool = False) -> tuple[_Evaluation, dict[str, Any]]:
        ev = evaluator.evaluation(elapsed)
        out = _outcome(spec, ev, elapsed=elapsed, resource=res, timed_out=timed_out)
        out["watch"] = {r.kind: {"relists": r.relists, "resumes": r.resumes} for r in reflectors}
        out["evaluations"] = evaluator.evaluations
        return ev, out

    # A quiet progress round ends here (the action plugin then prints a heartbeat).
    round_end = started + spec.quiet_seconds if spec.known is not None and spec.quiet_seconds else math.inf
    try:
        watching = settled = False
        while True:
            with store.cond:
                if store.error is not None:
                    raise store.error
                seen_generation = store.generation
            elapsed = spec.elapsed + time.monotonic() - started
            evaluator.update(store, elapsed)
            if evaluator.failed and spec.stop_on_failure:
                ev, out = report(elapsed)
                raise ClusterFailed(_failure_message(spec, ev), result=out)
            if not evaluator.pending:
                return {**report(elapsed)[1], "done": True}
            if spec.check_mode:
                return {**report(elapsed)[1], "done": False}
            if spec.known is not None and evaluator.summaries() != spec.known:
                if not settled and watching:
                    settled = True
                    _settle(store, until=min(deadline, time.monotonic() + _SETTLE_MAX))
                    continue
                return {**report(elapsed)[1], "done": False}
            if time.monotonic() >= deadline:
                if not spec.stop_on_failure:
                    return {**report(elapsed, timed_out=True)[1], "done": True}
                ev, out = report(elapsed)
                raise ResourceTimeout(_timeout_message(spec, ev, elapsed, host=client.host,
                                                       last_error=store.last_error), result=out)
            if time.monotonic() >= round_end:
                return {**report(elapsed)[1], "done": False}
            if not watching:
                watching = True
                for r in reflectors:
                    r.start()
            with store.cond:
                store.cond.wait_for(lambda: store.generation != seen_generation or store.error is not None,
                                    timeout=max(min(deadline, round_end) - time.monotonic(), 0))
    finally:
        stop.set()


def spec_from_params(params: dict[str, Any], *, check_mode: bool = False) -> WaitSpec:
    """A WaitSpec from the module's options (see plugins/modules/capi_cluster_wait.py)."""
    namespace = params.get("namespace")
    names: list[str] = []
    if params.get("name"):
        names = [f"{namespace or 'default'}/{params['name']}"]
    for item in params.get("clusters") or []:
        names.append(f"{item.get('namespace') or namespace or 'default'}/{item['name']}")
    if len(set(names)) != len(names):
        raise InvalidInput(f"'clusters' lists a cluster twice: {sorted(n for n in names if names.count(n) > 1)}")
    rounds = params.get("session") is not None
    session = params.get("session") or {}
    return WaitSpec(names=names, namespace=namespace, label_selector=params.get("label_selector"),
                    wait_for=params["wait_for"], timeout=float(params["timeout"]), fail_fast=params["fail_fast"],
                    stop_on_failure=params.get("stop_on_failure", True), check_mode=check_mode,
                    quiet_seconds=session.get("quiet_seconds") if rounds else None, known=dict(session.get("known") or {}) if rounds else None,
                    elapsed=float(session.get("elapsed") or 0.0), ready_at=dict(session.get("ready_at") or {}),
                    started_at=session.get("started_at"))


def run(client: KubeClient, params: dict[str, Any], *, check_mode: bool = False) -> dict[str, Any]:
    """The module's result (without ``changed``): the final state, or one progress round's state plus
    the ``session`` to pass to the next round."""
    spec = spec_from_params(params, check_mode=check_mode)
    session = params.get("session") or {}
    preferred = session.get("api_version")
    out = wait_for_clusters(client, spec, resource=capi_cluster_resource(client, preferred) if preferred else None)
    result = public_result(out)
    if not out["done"] and not check_mode:
        result["waiting"] = True
        result["session"] = {"api_version": out["api_version"], "known": out["summaries"], "elapsed": out["elapsed"],
                             "started_at": session.get("started_at"),
                             "ready_at": out["ready_at"]}
    return result


def public_result(out: dict[str, Any] | None) -> dict[str, Any]:
    """The documented return values from a wait outcome."""
    out = out or {}
    result = {k: out[k] for k in ("clusters", "api_version", "wait_for", "elapsed") if k in out}
    if "not_ready" in out:
        result["failed_clusters"] = out["not_ready"]
        result["ready_clusters"] = [{"name": c["name"], "namespace": c["namespace"]}
                                    for c in out.get("clusters") or [] if c.get("ready")]
    return result
