# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registration of Cluster API clusters in the hub's Argo CD: the backend of ``argocd_cluster_secret``.

One run reads the hub with one LIST per kind (CAPI Clusters, CAPI kubeconfig Secrets, the managed Argo CD
cluster Secrets), then writes only what differs. A cluster that cannot be registered yet is ``pending``; a
cluster that fails does not stop the others.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_cluster import (
    ANNOTATION_CREDENTIAL_MODE,
    HUB_IN_CLUSTER_SERVER,
    LABEL_CLUSTER_NAME,
    LABEL_CLUSTER_NAMESPACE,
    LABEL_CREDENTIAL_MODE,
    LABEL_REGISTERED,
    LABEL_SECRET_TYPE,
    REGISTERED,
    Kubeconfig,
    KubeconfigError,
    build_cluster_secret,
    control_plane_initialized,
    is_oke_cluster,
    merge_for_update,
    normalise_server,
    parse_kubeconfig,
    policy_owner,
    policy_secret_differences,
    redact_secret,
    secret_differs,
    secret_name,
    service_account_config,
    with_owned_record,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_service_account import (
    DEFAULT_RULES,
    ServiceAccountCredentials,
    kubeconfig_client,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._capi import capi_cluster_resource
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import (
    ApiError,
    CollectionError,
    InvalidInput,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import SECRET, KubeClient, Resource

__all__ = ["ACTIONS", "Options", "ClusterResult", "Outcome", "Registrar", "iter_failures"]

ACTIONS = ("created", "updated", "unchanged", "pending", "removed", "skipped", "failed")
KUBECONFIG_LABEL = "cluster.x-k8s.io/cluster-name"
# The Secrets registered by the collection, whoever wrote them (the module or the Kyverno policy).
MANAGED_SELECTOR = f"{LABEL_SECRET_TYPE}=cluster,{LABEL_REGISTERED}={REGISTERED}"
POLICY_OWNED = "owned by the policy"
_CHANGED = {"created", "updated", "removed"}
_PLACEHOLDER_TOKEN = "token-issued-when-applied"


@dataclass
class Options:
    """The module's parameters, minus authentication."""

    name: str | None = None
    namespace: str | None = None
    clusters: list[dict[str, str]] | None = None
    label_selector: str | None = None
    state: str = "present"
    credential_mode: str = "auto"
    service_account_rules: list[dict[str, Any]] = field(default_factory=lambda: [dict(r) for r in DEFAULT_RULES])
    label_allowlist: list[str] = field(default_factory=lambda: ["env", "region", "tier"])
    annotation_allowlist: list[str] = field(default_factory=list)
    project: str | None = None
    namespaces: list[str] | None = None
    cluster_resources: bool | None = None
    argocd_namespace: str = "argocd"
    hub_server: list[str] = field(default_factory=list)
    prune: bool = False
    tolerate_failures: bool = False
    allow_insecure: bool = False
    token_timeout: float = 10.0
    workload_timeout: float = 10.0
    parallel: int = 8
    report: str = "changes"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Options":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in params.items() if k in known and v is not None})


@dataclass
class ClusterResult:
    cluster: str
    namespace: str
    secret: str
    action: str = "unchanged"
    reason: str = ""
    credential_mode: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Outcome:
    results: list[ClusterResult] = field(default_factory=list)
    diffs: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    no_log_values: set[str] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return any(r.action in _CHANGED for r in self.results)

    @property
    def failures(self) -> list[ClusterResult]:
        return [r for r in self.results if r.action == "failed"]

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(ACTIONS, 0)
        for r in self.results:
            counts[r.action] += 1
        return counts

    def reported(self, report: str = "changes") -> list[ClusterResult]:
        """The per-cluster results to return: all of them, or (``changes``) all but the ``unchanged`` ones, which
        the summary counts."""
        return list(self.results) if report == "all" else [r for r in self.results if r.action != "unchanged"]


@dataclass
class _Work:
    """One cluster on its way through a run."""

    result: ClusterResult
    cluster: dict[str, Any]
    kubeconfig: Kubeconfig
    live: dict[str, Any] | None
    config: dict[str, Any] | None = None
    workload_changes: list[str] = field(default_factory=list)
    desired: dict[str, Any] | None = None


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


class _Writer:
    """Applies prepared clusters: at once when nothing is to be written (or ``parallel`` is 1), else in a thread
    pool of ``parallel`` workers, created for the first write (writes to the hub are independent per cluster).
    Leaving the ``with`` block waits for every write; an unexpected error of one is raised there."""

    def __init__(self, registrar: "Registrar") -> None:
        self.registrar = registrar
        self.pool: ThreadPoolExecutor | None = None
        self.pending: list[Future[None]] = []

    def submit(self, item: _Work) -> None:
        reg = self.registrar
        if reg.opts.parallel <= 1 or not reg._writes(item):  # pylint: disable=protected-access
            reg._guard(item.result, lambda: reg._apply(item))  # pylint: disable=protected-access
            return
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=reg.opts.parallel)
        self.pending.append(self.pool.submit(
            reg._guard, item.result, lambda: reg._apply(item)))  # pylint: disable=protected-access

    def __enter__(self) -> "_Writer":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self.pool is None:
            return
        try:
            if exc_type is None:  # else the error that left the block is the one to raise
                for future in self.pending:
                    future.result()
        finally:
            self.pool.shutdown(wait=True)


class Registrar:
    """Runs one registration (state present or absent) against the hub."""

    def __init__(self, hub: KubeClient, options: Options, *, check_mode: bool = False,
                 workload_client_factory: Callable[[dict[str, Any]], KubeClient] = kubeconfig_client) -> None:
        self.hub = hub
        self.opts = options
        self.check_mode = check_mode
        self.workload_client_factory = workload_client_factory
        self.out = Outcome()
        self._capi: Resource | None = None

    # --- selection -----------------------------------------------------------------------------
    def _selected(self) -> list[tuple[str, str]] | None:
        """Explicit (namespace, name) pairs, or None when the label selector / namespace decides."""
        if self.opts.name:
            if not self.opts.namespace:
                raise InvalidInput("'name' needs 'namespace' (the CAPI Cluster's namespace)")
            return [(self.opts.namespace, self.opts.name)]
        if self.opts.clusters is not None:
            pairs = []
            for item in self.opts.clusters:
                if not item.get("name") or not item.get("namespace"):
                    raise InvalidInput(f"every entry of 'clusters' needs 'name' and 'namespace'; got {item!r}")
                pairs.append((item["namespace"], item["name"]))
            return list(dict.fromkeys(pairs))
        return None

    def _scope(self, pairs: list[tuple[str, str]] | None) -> str | None:
        if pairs is None:
            return self.opts.namespace
        namespaces = {ns for ns, name in pairs}
        return next(iter(namespaces)) if len(namespaces) == 1 else None

    @property
    def capi(self) -> Resource:
        if self._capi is None:
            self._capi = capi_cluster_resource(self.hub)
        return self._capi

    def _list_clusters(self, scope: str | None, pairs: list[tuple[str, str]] | None,
                       label_selector: str | None) -> list[dict[str, Any]]:
        field_selector = f"metadata.name={pairs[0][1]}" if pairs and len(pairs) == 1 else None
        items = self._items(self.capi, scope, label_selector=label_selector, field_selector=field_selector)
        if pairs is not None:
            wanted = set(pairs)
            items = [c for c in items if _key(c) in wanted]
        return items

    def _list_kubeconfigs(self, scope: str | None, pairs: list[tuple[str, str]] | None) -> dict[tuple[str, str], Any]:
        selector = KUBECONFIG_LABEL
        if pairs and len(pairs) == 1:
            selector = f"{KUBECONFIG_LABEL}={pairs[0][1]}"
        return {_key(s): s for s in self._items(SECRET, scope, label_selector=selector)}

    def _managed_selector(self, scope: str | None, pairs: list[tuple[str, str]] | None) -> str:
        """The managed Secrets of the selection only: both writers label each with its cluster's namespace and name.

        Pruning without O(namespace) looks at every namespace, so it lists them all; so does state absent, which
        must find a Secret whatever its labels say. A Secret of the selection missing from the list is found by
        the create's 409 (see :meth:`_write_secret`)."""
        selector = MANAGED_SELECTOR
        if self.opts.state == "absent":
            return selector
        if self.opts.prune:
            scope = self.opts.namespace
        if scope:
            selector += f",{LABEL_CLUSTER_NAMESPACE}={scope}"
            if pairs and len(pairs) == 1 and not self.opts.prune:
                selector += f",{LABEL_CLUSTER_NAME}={pairs[0][1]}"
        return selector

    def _list_managed(self, scope: str | None = None,
                      pairs: list[tuple[str, str]] | None = None) -> dict[str, dict[str, Any]]:
        namespace = self.opts.argocd_namespace
        try:
            items = self.hub.list(SECRET, namespace,
                                  label_selector=self._managed_selector(scope, pairs)).get("items") or []
        except ApiError as e:
            if e.status != 404:
                raise
            if self.opts.state == "present":
                raise InvalidInput(f"the Argo CD namespace '{namespace}' does not exist on the hub; install Argo CD "
                                   "(role argocd) first, or set argocd_namespace") from e
            items = []
        return {s["metadata"]["name"]: s for s in items}

    def _items(self, res: Resource, namespace: str | None, **selectors: str | None) -> list[dict[str, Any]]:
        """LIST items; a namespace that does not exist holds nothing."""
        try:
            return self.hub.list(res, namespace, **selectors).get("items") or []
        except ApiError as e:
            if e.status == 404 and namespace:
                return []
            raise

    # --- entry point ---------------------------------------------------------------------------
    def run(self) -> Outcome:
        pairs = self._selected()
        scope = self._scope(pairs)
        managed = self._list_managed(scope, pairs)
        if self.opts.state == "absent":
            self._absent(pairs, scope, managed)
            return self.out
        clusters = self._list_clusters(scope, pairs, self.opts.label_selector)
        kubeconfigs = self._list_kubeconfigs(scope, pairs)
        by_key = {_key(c): c for c in clusters}
        order = pairs if pairs is not None else sorted(by_key)
        diffs, warnings = len(self.out.diffs), len(self.out.warnings)
        work: list[_Work] = []
        # Writes start while later kubeconfigs are still being parsed; clusters with service_account credentials
        # are written once their workload clusters gave their tokens.
        with _Writer(self) as writer:
            for key in order:
                item = self._prepare(key, by_key.get(key), kubeconfigs, managed)
                if item is None:
                    continue
                work.append(item)
                if item.result.credential_mode != "service_account":
                    writer.submit(item)
            accounts = [w for w in work if w.result.credential_mode == "service_account"]
            self._resolve_service_accounts(accounts)
            for item in accounts:
                if item.result.action != "failed":
                    writer.submit(item)
        self._in_cluster_order(work, diffs, warnings)
        if self.opts.prune:
            self._prune(pairs, clusters, managed)
        return self.out

    def _in_cluster_order(self, items: list[_Work], diffs: int, warnings: int) -> None:
        """Diffs and warnings added since the given lengths, in the clusters' order (writes run in parallel)."""
        order = {f"{w.result.namespace}/{w.result.cluster}": i for i, w in enumerate(items)}
        position = {f"Secret {self.opts.argocd_namespace}/{w.result.secret}": i for i, w in enumerate(items)}
        self.out.diffs[diffs:] = sorted(self.out.diffs[diffs:], key=lambda d: position.get(d["before_header"], -1))
        self.out.warnings[warnings:] = sorted(self.out.warnings[warnings:],
                                              key=lambda w: order.get(w.split(": ", 1)[0], -1))

    def _guard(self, result: ClusterResult, step: Callable[[], None]) -> None:
        try:
            step()
        except CollectionError as e:
            result.action, result.reason = "failed", e.msg

    def _add(self, result: ClusterResult) -> ClusterResult:
        self.out.results.append(result)
        return result

    # --- state present -------------------------------------------------------------------------
    def _hub_servers(self) -> set[str]:
        return {normalise_server(s) for s in (HUB_IN_CLUSTER_SERVER, self.hub.host, *self.opts.hub_server) if s}

    def _mode(self, cluster: dict[str, Any]) -> str:
        if self.opts.credential_mode != "auto":
            return self.opts.credential_mode
        labels = (cluster.get("metadata") or {}).get("labels") or {}
        if is_oke_cluster(cluster) or labels.get(LABEL_CREDENTIAL_MODE) == "service_account":
            return "service_account"
        return "kubeconfig"

    def _prepare(self, key: tuple[str, str], cluster: dict[str, Any] | None,
                 kubeconfigs: dict[tuple[str, str], Any], managed: dict[str, Any]) -> _Work | None:
        ns, name = key
        result = self._add(ClusterResult(cluster=name, namespace=ns, secret=secret_name(ns, name)))
        if cluster is None:
            result.action, result.reason = "pending", f"CAPI Cluster {ns}/{name} does not exist (yet)"
            return None
        result.credential_mode = self._mode(cluster)
        if not control_plane_initialized(cluster):
            result.action, result.reason = "pending", "the control plane is not initialized yet"
            return None
        kc_secret = kubeconfigs.get((ns, f"{name}-kubeconfig"))
        if kc_secret is None:
            result.action, result.reason = "pending", f"the kubeconfig Secret {ns}/{name}-kubeconfig does not exist yet"
            return None
        value = (kc_secret.get("data") or {}).get("value")
        if not value:
            result.action, result.reason = "failed", f"the kubeconfig Secret {ns}/{name}-kubeconfig has no data.value"
            return None
        try:
            kubeconfig = parse_kubeconfig(value, allow_insecure=self.opts.allow_insecure)
        except KubeconfigError as e:
            result.action, result.reason = "failed", f"{ns}/{name}-kubeconfig: {e.msg}"
            return None
        self.out.no_log_values.update(kubeconfig.sensitive_values())
        if normalise_server(kubeconfig.server) in self._hub_servers():
            result.action = "skipped"
            result.reason = f"{kubeconfig.server} is the hub's own API; it is never registered"
            return None
        work = _Work(result=result, cluster=cluster, kubeconfig=kubeconfig, live=managed.get(result.secret))
        if policy_owner(work.live):
            self._policy_owned(work, work.live)
            return None
        if result.credential_mode == "kubeconfig" and kubeconfig.token and is_oke_cluster(cluster):
            self.out.warnings.append(f"{ns}/{name}: the OKE kubeconfig's token expires within minutes; the copy in "
                                     "Argo CD will stop working. Use credential_mode: service_account")
        return work

    def _policy_owned(self, item: _Work, live: dict[str, Any]) -> None:
        """Leave a Secret the Kyverno policy generated alone; say whether it is the Secret the module would write.

        The module never writes, relabels or deletes such a Secret (Kyverno would write it back, and two writers
        of one object fight). Check mode shows the difference, if any, as a diff.
        """
        result = item.result
        result.action = "skipped"
        owner = policy_owner(live)
        reason = f"{POLICY_OWNED} (Kyverno ClusterPolicy {owner})"
        if result.credential_mode != "kubeconfig":
            result.reason = (f"{reason}; the module would register it with credential_mode "
                             f"{result.credential_mode}: label the CAPI Cluster {LABEL_CREDENTIAL_MODE}="
                             "service_account so the policy lets go of it, then run the module again")
            return
        desired = self._desired(item)
        differences = policy_secret_differences(desired, live, **self._allow())
        if not differences:
            result.reason = f"{reason}; identical to what the module would write"
            return
        result.reason = f"{reason}; differs from what the module would write: {', '.join(differences)}"
        self.out.warnings.append(f"{result.namespace}/{result.cluster}: Secret {result.secret} {result.reason}")
        if self.check_mode:
            self._diff(result, live, desired)

    def _resolve_one(self, item: _Work) -> None:
        sa = ServiceAccountCredentials(item.kubeconfig, rules=self.opts.service_account_rules,
                                       check_mode=self.check_mode, timeout=self.opts.workload_timeout,
                                       token_timeout=self.opts.token_timeout,
                                       client_factory=self.workload_client_factory)
        try:
            got = sa.ensure()
        except CollectionError as e:
            item.result.action = "failed"
            item.result.reason = f"workload API {item.kubeconfig.server}: {e.msg}"
            return
        item.workload_changes = got.changes
        if got.token:
            self.out.no_log_values.add(got.token)
        item.config = got.config
        if item.config is None:  # check mode, a token would be issued: validate the write with a placeholder
            item.config = service_account_config(_PLACEHOLDER_TOKEN, item.kubeconfig.ca_data)

    def _resolve_service_accounts(self, items: list[_Work]) -> None:
        if not items:
            return
        with ThreadPoolExecutor(max_workers=max(1, min(self.opts.parallel, len(items)))) as pool:
            list(pool.map(self._resolve_one, items))

    def _writes(self, item: _Work) -> bool:
        """Whether applying ``item`` will send a request (a no-change run then needs no thread pool)."""
        labels = (item.cluster.get("metadata") or {}).get("labels") or {}
        want = "service_account" if item.result.credential_mode == "service_account" else None
        if labels.get(LABEL_CREDENTIAL_MODE) != want or item.live is None:
            return True
        return secret_differs(self._desired(item), item.live, **self._allow())

    def _desired(self, item: _Work) -> dict[str, Any]:
        if item.desired is None:
            item.desired = self._build_desired(item)
        return item.desired

    def _build_desired(self, item: _Work) -> dict[str, Any]:
        """The Secret to write, with the record of the labels and annotations it copies from the Cluster (the next
        run removes a recorded key the Cluster no longer has, and never one it did not record)."""
        return with_owned_record(build_cluster_secret(
            item.cluster, item.kubeconfig, argocd_namespace=self.opts.argocd_namespace,
            credential_mode=item.result.credential_mode, config=item.config,
            label_allowlist=self.opts.label_allowlist, annotation_allowlist=self.opts.annotation_allowlist,
            project=self.opts.project, namespaces=self.opts.namespaces, cluster_resources=self.opts.cluster_resources),
            **self._allow())

    def _allow(self) -> dict[str, Any]:
        return {"label_allowlist": self.opts.label_allowlist, "annotation_allowlist": self.opts.annotation_allowlist}

    def _apply(self, item: _Work) -> None:
        # The label goes first: it tells the Kyverno policy to leave a service_account cluster alone.
        relabelled = self._label_cluster(item)
        self._write_secret(item)
        result = item.result
        if item.workload_changes:
            if result.action == "unchanged":
                result.action = "updated"
            result.reason += "; workload cluster: " + ", ".join(item.workload_changes)
        if relabelled and result.action == "unchanged":
            result.action, result.reason = "updated", f"CAPI Cluster label {LABEL_CREDENTIAL_MODE} set or removed"

    def _write_secret(self, item: _Work) -> None:
        desired = self._desired(item)
        result, live, dry = item.result, item.live, self.check_mode
        if live is None:
            try:
                self.hub.create(SECRET, desired, self.opts.argocd_namespace, dry_run=dry)
            except ApiError as e:
                if e.status != 409:
                    raise
                existing = self.hub.get(SECRET, result.secret, self.opts.argocd_namespace)
                if policy_owner(existing):
                    self._policy_owned(item, existing)
                    return
                if ((existing or {}).get("metadata", {}).get("labels") or {}).get(LABEL_REGISTERED) == REGISTERED:
                    # Managed, but not labelled with this cluster's namespace and name (the list did not select it).
                    item.live = existing
                    self._write_secret(item)
                    return
                raise InvalidInput(
                    f"Secret {self.opts.argocd_namespace}/{result.secret} exists but is not labelled "
                    f"{LABEL_REGISTERED}={REGISTERED}; the module does not take over Secrets it did not "
                    "write. Delete it, or label it to hand it over") from e
            result.action, result.reason = "created", "registered in Argo CD"
            self._diff(result, None, desired)
        elif secret_differs(desired, live, **self._allow()):
            body = merge_for_update(desired, live, **self._allow())
            self.hub.replace(SECRET, body, self.opts.argocd_namespace, dry_run=dry)
            result.action, result.reason = "updated", "the Argo CD cluster Secret differed"
            self._diff(result, live, body)
        else:
            result.action, result.reason = "unchanged", "already registered"

    def _label_cluster(self, item: _Work) -> bool:
        """Mark service_account clusters on the CAPI Cluster (the Kyverno policy skips them); unmark others."""
        labels = (item.cluster.get("metadata") or {}).get("labels") or {}
        want = "service_account" if item.result.credential_mode == "service_account" else None
        if labels.get(LABEL_CREDENTIAL_MODE) == want:
            return False
        ns, name = _key(item.cluster)
        self.hub.patch(self.capi, name, {"metadata": {"labels": {LABEL_CREDENTIAL_MODE: want}}}, ns,
                       dry_run=self.check_mode)
        return True

    def _diff(self, result: ClusterResult, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        header = f"Secret {self.opts.argocd_namespace}/{result.secret}"
        self.out.diffs.append({"before": redact_secret(before), "after": redact_secret(after),
                               "before_header": header, "after_header": header})

    # --- removal -------------------------------------------------------------------------------
    def _remove(self, result: ClusterResult, live: dict[str, Any], reason: str) -> None:
        self.hub.delete(SECRET, live["metadata"]["name"], self.opts.argocd_namespace, dry_run=self.check_mode)
        result.action, result.reason = "removed", reason
        self._diff(result, live, None)

    def _absent(self, pairs: list[tuple[str, str]] | None, scope: str | None, managed: dict[str, Any]) -> None:
        if pairs is None:
            pairs = sorted(_key(c) for c in self._list_clusters(scope, None, self.opts.label_selector))
        for ns, name in pairs:
            result = self._add(ClusterResult(cluster=name, namespace=ns, secret=secret_name(ns, name)))
            live = managed.get(result.secret)
            if live is None:
                result.reason = "not registered"
                continue
            if policy_owner(live):
                result.action = "skipped"
                result.reason = (f"{POLICY_OWNED} (Kyverno ClusterPolicy {policy_owner(live)}), which deletes it "
                                 "with the CAPI cluster's kubeconfig Secret")
                continue
            self._guard(result, lambda r=result, s=live: self._remove(r, s, "unregistered from Argo CD"))

    def _prune(self, pairs: list[tuple[str, str]] | None, listed: list[dict[str, Any]],
               managed: dict[str, Any]) -> None:
        prune_scope = self.opts.namespace
        if pairs is None and not self.opts.label_selector:
            existing = {_key(c) for c in listed}
        else:
            existing = {_key(c) for c in self._list_clusters(prune_scope, None, None)}
        done = {r.secret for r in self.out.results}
        for name, live in sorted(managed.items()):
            labels = live["metadata"].get("labels") or {}
            key = (labels.get(LABEL_CLUSTER_NAMESPACE), labels.get(LABEL_CLUSTER_NAME))
            if not all(key) or name in done or key in existing or policy_owner(live):
                continue
            if prune_scope and key[0] != prune_scope:
                continue
            result = self._add(ClusterResult(cluster=key[1], namespace=key[0], secret=name,
                                             credential_mode=(live["metadata"].get("annotations") or {}).get(
                                                 ANNOTATION_CREDENTIAL_MODE)))
            self._guard(result, lambda r=result, s=live: self._remove(r, s, "its CAPI Cluster no longer exists"))


def iter_failures(results: Iterable[ClusterResult]) -> list[str]:
    return [f"{r.namespace}/{r.cluster}: {r.reason}" for r in results if r.action == "failed"]
