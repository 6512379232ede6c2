"""argocd_cluster_secret: module wiring and the registration logic against an in-memory API (no HTTP).

The in-memory API below implements only what the module uses (plain-path REST, label and field selectors,
dryRun, a token controller, bearer-token checks on /version); the HTTP behaviour is covered by
tests/integration/test_argocd_cluster_secret.py against kubemu.
"""
from __future__ import annotations

import base64
import copy
import json
import threading
from collections import Counter
from typing import Any, Callable
from unittest import mock

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_registration import (
    POLICY_OWNED,
    Options,
    Registrar,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import K8S_AUTH_ARG_SPEC, KubeClient
from ansible_collections.multicluster.gitops.plugins.modules import argocd_cluster_secret as module

HUB = "https://hub.example:6443"
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n").decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _parse(path: str) -> tuple[str, str | None, str | None]:
    """(collection id, namespace, name) of a REST path."""
    parts = path.strip("/").split("/")
    prefix = parts[:2] if parts[0] == "api" else parts[:3]
    rest = parts[len(prefix):]
    namespace = None
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    group = "" if parts[0] == "api" else prefix[1]
    return f"{group}/{plural}", namespace, (rest[1] if len(rest) > 1 else None)


def _matches(obj: dict[str, Any], label_selector: str | None, field_selector: str | None) -> bool:
    labels = obj["metadata"].get("labels") or {}
    for term in filter(None, (label_selector or "").split(",")):
        key, separator, value = term.partition("=")
        if key not in labels or (value and labels[key] != value):
            return False
    for term in filter(None, (field_selector or "").split(",")):
        key, separator, value = term.partition("=")
        if key == "metadata.name" and obj["metadata"]["name"] != value:
            return False
    return True


class FakeApi:
    """One emulated API server: objects by (collection, namespace, name)."""

    def __init__(self, server: str, *, capi_version: str | None = "v1beta2") -> None:
        self.server = server
        self.capi_version = capi_version
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests: Counter = Counter()
        self.tokens: set[str] = set()
        self.fill_tokens = True
        self.down = False
        self._serial = 0
        self._lock = threading.Lock()  # the module writes from several threads (option parallel)

    @property
    def writes(self) -> int:
        return sum(n for (method, plural), n in self.requests.items() if method != "GET")

    def put(self, collection: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self._serial += 1
        meta["resourceVersion"] = str(self._serial)
        self.objects[(collection, meta.get("namespace") or "", meta["name"])] = obj
        if obj.get("type") == "kubernetes.io/service-account-token" and self.fill_tokens:
            token = f"sa-token-{self._serial}-{self.server}"
            obj["data"] = {"token": b64(token), "ca.crt": CA}
            self.tokens.add(token)

    def remove(self, collection: str, namespace: str, name: str) -> None:
        obj = self.objects.pop((collection, namespace, name))
        if obj.get("type") == "kubernetes.io/service-account-token":
            token = (obj.get("data") or {}).get("token")
            if token:
                self.tokens.discard(base64.b64decode(token).decode())

    def handle(self, method: str, path: str, query: dict[str, Any], body: Any, token: str | None) -> Any:
        with self._lock:
            return self._handle(method, path, query, body, token)

    def _handle(self, method: str, path: str, query: dict[str, Any], body: Any, token: str | None) -> Any:
        if self.down:
            raise ApiError(f"{method} {self.server}{path} failed: connection refused", reason="MaxRetryError")
        collection = _parse(path)[0] if path.startswith(("/api/", "/apis/")) and path.count("/") > 2 else path
        self.requests[(method, collection)] += 1
        if token is not None and token not in self.tokens:
            raise ApiError(f"{method} {path}: 401 Unauthorized", status=401)
        if path == "/version":
            return {"gitVersion": "v1.31.0"}
        if path == "/apis/cluster.x-k8s.io":
            if self.capi_version is None:
                raise ApiError(f"GET {path}: 404 NotFound", status=404)
            return {"kind": "APIGroup", "name": "cluster.x-k8s.io",
                    "preferredVersion": {"groupVersion": f"cluster.x-k8s.io/{self.capi_version}",
                                         "version": self.capi_version}}
        collection, namespace, name = _parse(path)
        dry = (query or {}).get("dryRun") == "All"
        key = (collection, namespace or "", name or "")
        if method == "GET" and name is None:
            items = [copy.deepcopy(o) for (c, ns, obj_name), o in sorted(self.objects.items())
                     if c == collection and (namespace is None or ns == namespace)
                     and _matches(o, query.get("labelSelector"), query.get("fieldSelector"))]
            return {"items": items}
        if method == "POST":
            obj = copy.deepcopy(body)
            obj["metadata"].setdefault("namespace", namespace)
            key = (collection, namespace or "", obj["metadata"]["name"])
            if key in self.objects:
                raise ApiError(f"POST {path}: 409 AlreadyExists", status=409)
            if not dry:
                self.put(collection, obj)
            return copy.deepcopy(obj)
        if key not in self.objects:
            raise ApiError(f"{method} {path}: 404 NotFound", status=404)
        if method == "GET":
            return copy.deepcopy(self.objects[key])
        if method == "DELETE":
            if not dry:
                self.remove(*key)
            return {"kind": "Status", "status": "Success"}
        if method == "PUT":
            if body["metadata"].get("resourceVersion") not in (None, self.objects[key]["metadata"]["resourceVersion"]):
                raise ApiError(f"PUT {path}: 409 Conflict", status=409)
            if not dry:
                self.put(collection, copy.deepcopy(body))
            return body
        if method == "PATCH":
            obj = copy.deepcopy(self.objects[key])
            labels = obj["metadata"].setdefault("labels", {})
            for k, v in ((body.get("metadata") or {}).get("labels") or {}).items():
                if v is None:
                    labels.pop(k, None)
                else:
                    labels[k] = v
            if not dry:
                self.put(collection, obj)
            return obj
        raise AssertionError(f"unexpected {method} {path}")


class FakeClient(KubeClient):
    """KubeClient whose transport is a FakeApi (the verbs of KubeClient are used unchanged)."""

    def __init__(self, api: FakeApi, token: str | None = None) -> None:
        super().__init__(api_client=None)
        self.fake, self.token = api, token

    @property
    def host(self) -> str:
        return self.fake.server

    def request(self, method, path, *, query=None, body=None, content_type=None, timeout=None, stream=False):
        self.requests += 1
        return self.fake.handle(method, path, {k: v for k, v in (query or {}).items() if v is not None},
                                body, self.token)


class World:
    """A hub with CAPI Clusters, and workload API servers reached through their kubeconfigs."""

    def __init__(self) -> None:
        self.hub = FakeApi(HUB)
        self.workloads: dict[str, FakeApi] = {}

    def workload(self, index: int) -> FakeApi:
        server = f"https://10.0.0.{index}:6443"
        return self.workloads.setdefault(server, FakeApi(server))

    def client_factory(self, doc: dict[str, Any]) -> FakeClient:
        server = doc["clusters"][0]["cluster"]["server"]
        user = doc["users"][0]["user"]
        return FakeClient(self.workloads[server], token=user.get("token"))

    def add_cluster(self, name: str, namespace: str = "workloads", *, workload: int = 1, initialized: bool = True,
                    labels: dict[str, str] | None = None, kubeconfig: str | None | bool = True,
                    oke: bool = False) -> None:
        server = self.workload(workload).server
        cluster = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
                   "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
                   "spec": {"infrastructureRef": {"kind": "OCIManagedCluster" if oke else "OCICluster"}},
                   "status": {"initialization": {"controlPlaneInitialized": initialized}}}
        self.hub.put("cluster.x-k8s.io/clusters", cluster)
        if kubeconfig is True:
            kubeconfig = b64(yaml.safe_dump(self.kubeconfig(name, server)))
        if kubeconfig:
            self.hub.put("/secrets", {
                "apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                "metadata": {"name": f"{name}-kubeconfig", "namespace": namespace,
                             "labels": {"cluster.x-k8s.io/cluster-name": name}},
                "data": {"value": kubeconfig}})

    @staticmethod
    def kubeconfig(name: str, server: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Config", "current-context": f"{name}-admin@{name}",
                "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": CA}}],
                "users": [{"name": f"{name}-admin", "user": {
                    "client-certificate-data": b64(f"CERT-OF-{name}"), "client-key-data": b64(f"KEY-OF-{name}")}}],
                "contexts": [{"name": f"{name}-admin@{name}", "context": {"cluster": name, "user": f"{name}-admin"}}]}

    def run(self, check_mode: bool = False, **params: Any):
        return Registrar(FakeClient(self.hub), Options(**params), check_mode=check_mode,
                         workload_client_factory=self.client_factory).run()

    def argocd_secrets(self) -> dict[str, dict[str, Any]]:
        return {name: o for (c, ns, name), o in self.hub.objects.items() if c == "/secrets" and ns == "argocd"}


def actions(outcome) -> dict[str, str]:
    return {r.cluster: r.action for r in outcome.results}


@pytest.fixture
def world() -> World:
    return World()


# --- module wiring -------------------------------------------------------------------------------

def test_argspec_extends_the_shared_auth_spec_and_hides_credentials():
    spec = module.argspec()
    assert spec["kubeconfig"]["no_log"] is True and spec["api_key"]["no_log"] is True
    assert spec["credential_mode"]["default"] == "auto"
    assert spec["label_allowlist"]["default"] == ["env", "region", "tier"]


def test_documentation_matches_the_argspec():
    doc = yaml.safe_load(module.DOCUMENTATION)
    spec = module.argspec()
    own = {k: v for k, v in spec.items() if k not in K8S_AUTH_ARG_SPEC}
    assert set(doc["options"]) == set(own)
    for name, opt in own.items():
        assert doc["options"][name]["type"] == opt["type"], name
        assert doc["options"][name].get("default") == opt.get("default"), name
        assert doc["options"][name].get("choices") == opt.get("choices"), name
    assert doc["extends_documentation_fragment"] == ["multicluster.gitops.k8s_auth"]
    assert set(doc["attributes"]) == {"check_mode", "diff_mode"}


def _run_main(args: dict[str, Any], hub: FakeApi):
    class Exit(Exception):
        pass

    captured: dict[str, Any] = {}

    def finish(kind):
        def inner(self, **kwargs):
            captured.update(kwargs, _kind=kind, _no_log_values=set(self.no_log_values))
            raise Exit
        return inner

    with patch_module_args(args), \
            mock.patch.object(module.AnsibleModule, "exit_json", finish("exit")), \
            mock.patch.object(module.AnsibleModule, "fail_json", finish("fail")), \
            mock.patch.object(module, "kube_client", lambda params: FakeClient(hub)):
        with pytest.raises(Exit):
            module.main()
    return captured


@pytest.mark.parametrize("args,fragment", [
    ({"name": "a", "namespace": "n", "label_selector": "x=y"}, "mutually exclusive"),
    ({"name": "a"}, "namespace"),
    ({"clusters": [{"name": "a"}]}, "namespace"),
    ({"credential_mode": "magic"}, "credential_mode"),
])
def test_bad_parameters_fail_before_any_request(world, args, fragment):
    result = _run_main(args, world.hub)
    assert result["_kind"] == "fail" and fragment in result["msg"]
    assert sum(world.hub.requests.values()) == 0


def test_main_registers_reports_and_masks_key_material(world):
    world.add_cluster("dev")
    result = _run_main({"name": "dev", "namespace": "workloads", "_ansible_diff": True}, world.hub)
    assert result["_kind"] == "exit" and result["changed"] is True
    assert result["clusters"] == [{"cluster": "dev", "namespace": "workloads", "secret": "cluster-workloads.dev",
                                   "action": "created", "reason": "registered in Argo CD",
                                   "credential_mode": "kubeconfig"}]
    assert result["summary"]["created"] == 1
    assert b64("KEY-OF-dev") in result["_no_log_values"] and "KEY-OF-dev" in result["_no_log_values"]
    assert b64("KEY-OF-dev") not in json.dumps(result["diff"])


def test_main_fails_at_the_end_naming_each_failure(world):
    world.add_cluster("good")
    world.add_cluster("broken", kubeconfig=b64("::: not yaml {"))
    result = _run_main({"namespace": "workloads"}, world.hub)
    assert result["_kind"] == "fail"
    assert "1 of 2 clusters failed" in result["msg"] and "workloads/broken" in result["msg"]
    assert {c["cluster"]: c["action"] for c in result["clusters"]} == {"broken": "failed", "good": "created"}
    tolerated = _run_main({"namespace": "workloads", "tolerate_failures": True}, world.hub)
    assert tolerated["_kind"] == "exit"


def test_main_reports_hub_errors_clearly():
    hub = FakeApi(HUB, capi_version=None)
    result = _run_main({"name": "a", "namespace": "n"}, hub)
    assert result["_kind"] == "fail" and "install Cluster API" in result["msg"]


def test_missing_argocd_namespace_is_reported_clearly():
    hub = FakeApi(HUB)
    real = hub.handle

    def handle(method, path, query, body, token):
        if path.startswith("/api/v1/namespaces/argocd/"):
            raise ApiError(f"{method} {path}: 404 namespaces \"argocd\" not found", status=404)
        return real(method, path, query, body, token)

    hub.handle = handle
    result = _run_main({"namespace": "workloads"}, hub)
    assert result["_kind"] == "fail" and "role argocd" in result["msg"] and "argocd_namespace" in result["msg"]


# --- selection, pending, idempotence ---------------------------------------------------------------

def test_one_list_per_kind_and_no_write_on_rerun(world):
    for i in range(20):
        world.add_cluster(f"c{i}", namespace=f"ns{i % 3}", workload=i % 4)
    first = world.run()
    assert set(actions(first).values()) == {"created"}
    assert len(world.argocd_secrets()) == 20
    lists = {k: v for k, v in world.hub.requests.items() if k[0] == "GET"}
    assert lists == {("GET", "/apis/cluster.x-k8s.io"): 1, ("GET", "cluster.x-k8s.io/clusters"): 1,
                     ("GET", "/secrets"): 2}
    world.hub.requests.clear()
    second = world.run()
    assert set(actions(second).values()) == {"unchanged"} and not second.changed
    assert world.hub.writes == 0


def test_pending_clusters_are_not_failures(world):
    world.add_cluster("booting", initialized=False)
    world.add_cluster("nokubeconfig", kubeconfig=None)
    out = world.run(clusters=[{"name": "booting", "namespace": "workloads"},
                              {"name": "nokubeconfig", "namespace": "workloads"},
                              {"name": "ghost", "namespace": "workloads"}])
    assert actions(out) == {"booting": "pending", "nokubeconfig": "pending", "ghost": "pending"}
    assert not out.failures and world.hub.writes == 0


def test_label_selector_and_label_propagation(world):
    world.add_cluster("a", labels={"env": "dev", "fleet": "x"})
    world.add_cluster("b", labels={"env": "prod"})
    out = world.run(label_selector="fleet=x")
    assert actions(out) == {"a": "created"}
    obj = world.hub.objects[("cluster.x-k8s.io/clusters", "workloads", "a")]
    obj["metadata"]["labels"]["env"] = "prod"
    out = world.run(label_selector="fleet=x")
    assert actions(out) == {"a": "updated"}
    assert world.argocd_secrets()["cluster-workloads.a"]["metadata"]["labels"]["env"] == "prod"


def _cluster_labels(world: World, name: str) -> dict[str, str]:
    return world.hub.objects[("cluster.x-k8s.io/clusters", "workloads", name)]["metadata"]["labels"]


def test_label_removed_from_the_cluster_leaves_the_secret_and_foreign_labels_stay(world):
    """A label the module copied (recorded in multicluster.gitops/owned-labels) goes when the Cluster drops it; an
    allow-listed label someone else put on the Secret is not in the record and stays. Check mode reports the removal
    without making it; the run after the removal changes nothing."""
    world.add_cluster("a", labels={"env": "test", "tier": "gold"})
    assert actions(world.run()) == {"a": "created"}
    secret = world.argocd_secrets()["cluster-workloads.a"]
    assert secret["metadata"]["annotations"]["multicluster.gitops/owned-labels"] == "env,tier"
    assert secret["metadata"]["annotations"]["multicluster.gitops/owned-annotations"] == ""
    secret["metadata"]["labels"]["region"] = "eu-by-hand"     # allow-listed, but set by someone else
    secret["metadata"]["labels"]["team"] = "blue"             # not allow-listed, set by someone else
    del _cluster_labels(world, "a")["tier"]

    world.hub.requests.clear()
    checked = world.run(check_mode=True)
    assert actions(checked) == {"a": "updated"} and checked.changed
    assert world.argocd_secrets()["cluster-workloads.a"]["metadata"]["labels"]["tier"] == "gold"
    assert world.hub.requests[("PUT", "/secrets")] == 1  # sent with dryRun=All
    assert "tier" in checked.diffs[0]["before"]["metadata"]["labels"]
    assert "tier" not in checked.diffs[0]["after"]["metadata"]["labels"]

    assert actions(world.run()) == {"a": "updated"}
    labels = world.argocd_secrets()["cluster-workloads.a"]["metadata"]["labels"]
    assert "tier" not in labels and labels["env"] == "test"
    assert labels["region"] == "eu-by-hand" and labels["team"] == "blue"
    assert world.argocd_secrets()["cluster-workloads.a"]["metadata"]["annotations"][
        "multicluster.gitops/owned-labels"] == "env"

    world.hub.requests.clear()
    again = world.run()
    assert actions(again) == {"a": "unchanged"} and not again.changed and world.hub.writes == 0


def test_key_dropped_from_the_allowlist_is_removed_once(world):
    world.add_cluster("a", labels={"env": "test", "tier": "gold"})
    world.run()
    out = world.run(label_allowlist=["env"])
    assert actions(out) == {"a": "updated"}
    labels = world.argocd_secrets()["cluster-workloads.a"]["metadata"]["labels"]
    assert "tier" not in labels and labels["env"] == "test"
    assert not world.run(label_allowlist=["env"]).changed


def test_secret_without_a_record_is_taken_to_hold_the_allowlisted_keys(world):
    """A Secret written before the record existed: its allow-listed labels count as the module's (as they did), and
    the first run writes the record."""
    world.add_cluster("a", labels={"env": "test"})
    world.run()
    secret = world.argocd_secrets()["cluster-workloads.a"]
    del secret["metadata"]["annotations"]["multicluster.gitops/owned-labels"]
    secret["metadata"]["labels"]["tier"] = "stale"
    assert actions(world.run()) == {"a": "updated"}
    secret = world.argocd_secrets()["cluster-workloads.a"]
    assert "tier" not in secret["metadata"]["labels"]
    assert secret["metadata"]["annotations"]["multicluster.gitops/owned-labels"] == "env"


def test_hub_is_never_registered(world):
    world.workloads[HUB] = world.hub
    world.add_cluster("self")
    world.hub.objects[("/secrets", "workloads", "self-kubeconfig")]["data"]["value"] = b64(
        yaml.safe_dump(World.kubeconfig("self", HUB + "/")))
    world.add_cluster("other", workload=2)
    world.add_cluster("incluster", workload=3)
    world.hub.objects[("/secrets", "workloads", "incluster-kubeconfig")]["data"]["value"] = b64(
        yaml.safe_dump(World.kubeconfig("incluster", "https://kubernetes.default.svc")))
    out = world.run()
    assert actions(out) == {"self": "skipped", "other": "created", "incluster": "skipped"}
    assert list(world.argocd_secrets()) == ["cluster-workloads.other"]


def test_check_mode_changes_nothing_but_reports_the_change(world):
    world.add_cluster("dev")
    out = world.run(check_mode=True)
    assert actions(out) == {"dev": "created"} and out.changed
    assert world.argocd_secrets() == {}
    assert world.hub.requests[("POST", "/secrets")] == 1  # sent with dryRun=All


def test_foreign_secret_with_the_same_name_is_not_taken_over(world):
    world.hub.put("/secrets", {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                               "metadata": {"name": "cluster-workloads.dev", "namespace": "argocd"},
                               "data": {"name": b64("hand-made")}})
    world.add_cluster("dev")
    out = world.run()
    assert actions(out) == {"dev": "failed"} and "not labelled" in out.results[0].reason
    assert base64.b64decode(world.argocd_secrets()["cluster-workloads.dev"]["data"]["name"]) == b"hand-made"


# --- prune and absent ----------------------------------------------------------------------------

def test_prune_removes_only_managed_secrets_of_gone_clusters(world):
    world.add_cluster("stay")
    world.add_cluster("gone")
    world.run()
    world.hub.put("/secrets", {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                               "metadata": {"name": "hand-made", "namespace": "argocd",
                                            "labels": {"argocd.argoproj.io/secret-type": "cluster"}}})
    del world.hub.objects[("cluster.x-k8s.io/clusters", "workloads", "gone")]
    check = world.run(check_mode=True, prune=True)
    assert actions(check)["gone"] == "removed" and "cluster-workloads.gone" in world.argocd_secrets()
    out = world.run(prune=True)
    assert actions(out) == {"stay": "unchanged", "gone": "removed"}
    assert sorted(world.argocd_secrets()) == ["cluster-workloads.stay", "hand-made"]


def test_prune_with_a_selector_keeps_clusters_outside_it(world):
    world.add_cluster("a", labels={"fleet": "x"})
    world.add_cluster("b")
    world.run()
    out = world.run(label_selector="fleet=x", prune=True)
    assert actions(out) == {"a": "unchanged"}
    assert len(world.argocd_secrets()) == 2


def test_state_absent(world):
    world.add_cluster("dev")
    world.run()
    out = world.run(name="dev", namespace="workloads", state="absent")
    assert actions(out) == {"dev": "removed"} and world.argocd_secrets() == {}
    again = world.run(name="dev", namespace="workloads", state="absent")
    assert actions(again) == {"dev": "unchanged"} and not again.changed


# --- service_account mode ------------------------------------------------------------------------

def _argocd_config(world: World, name: str) -> dict[str, Any]:
    secret = world.argocd_secrets()[f"cluster-workloads.{name}"]
    return json.loads(base64.b64decode(secret["data"]["config"]))


def test_oke_cluster_gets_a_service_account_token(world):
    world.add_cluster("oke", oke=True, workload=5)
    out = world.run()
    assert actions(out) == {"oke": "created"} and out.results[0].credential_mode == "service_account"
    workload = world.workloads["https://10.0.0.5:6443"]
    kinds = {c for c, ns, obj_name in workload.objects}
    assert kinds == {"/serviceaccounts", "rbac.authorization.k8s.io/clusterroles",
                     "rbac.authorization.k8s.io/clusterrolebindings", "/secrets"}
    config = _argocd_config(world, "oke")
    assert config["bearerToken"] in workload.tokens and "certData" not in config["tlsClientConfig"]
    cluster = world.hub.objects[("cluster.x-k8s.io/clusters", "workloads", "oke")]
    assert cluster["metadata"]["labels"]["multicluster.gitops/credential-mode"] == "service_account"
    assert config["bearerToken"] in out.no_log_values

    world.hub.requests.clear()
    workload.requests.clear()
    again = world.run()
    assert actions(again) == {"oke": "unchanged"}
    assert world.hub.writes == 0 and workload.writes == 0


def test_revoked_token_is_reissued(world):
    world.add_cluster("oke", oke=True, workload=5)
    world.run()
    workload = world.workloads["https://10.0.0.5:6443"]
    old = _argocd_config(world, "oke")["bearerToken"]
    workload.tokens.discard(old)  # revoked, the Secret still holds it
    out = world.run()
    assert actions(out) == {"oke": "updated"} and "rejected (401)" in out.results[0].reason
    new = _argocd_config(world, "oke")["bearerToken"]
    assert new != old and new in workload.tokens


def test_token_controller_timeout_fails_that_cluster_only(world):
    world.add_cluster("slow", oke=True, workload=5)
    world.add_cluster("fine", workload=6)
    world.workload(5).fill_tokens = False
    out = world.run(token_timeout=0.2)
    assert actions(out) == {"slow": "failed", "fine": "created"}
    assert "token controller" in {r.cluster: r.reason for r in out.results}["slow"]


def test_unreachable_workload_does_not_stop_the_others(world):
    world.add_cluster("down", workload=7)
    world.add_cluster("up", workload=8)
    world.workload(7).down = True
    out = world.run(credential_mode="service_account")
    assert actions(out) == {"down": "failed", "up": "created"}
    assert "10.0.0.7" in {r.cluster: r.reason for r in out.results}["down"]


def test_check_mode_in_service_account_mode_writes_nowhere(world):
    world.add_cluster("oke", oke=True, workload=5)
    out = world.run(check_mode=True)
    assert actions(out) == {"oke": "created"}
    assert world.workloads["https://10.0.0.5:6443"].objects == {} and world.argocd_secrets() == {}
    assert "multicluster.gitops/credential-mode" not in world.hub.objects[
        ("cluster.x-k8s.io/clusters", "workloads", "oke")]["metadata"]["labels"]


def test_explicit_kubeconfig_mode_removes_the_service_account_label(world):
    world.add_cluster("dev", labels={"multicluster.gitops/credential-mode": "service_account"})
    assert world.run().results[0].credential_mode == "service_account"
    out = world.run(credential_mode="kubeconfig")
    assert out.results[0].credential_mode == "kubeconfig" and actions(out) == {"dev": "updated"}
    labels = world.hub.objects[("cluster.x-k8s.io/clusters", "workloads", "dev")]["metadata"]["labels"]
    assert "multicluster.gitops/credential-mode" not in labels
    assert "certData" in _argocd_config(world, "dev")["tlsClientConfig"]


# --- Secrets the Kyverno policy generated ----------------------------------------------------------

KYVERNO_GENERATED_LABELS = {
    # What Kyverno's background controller sets on every resource it generates (overwriting managed-by).
    "app.kubernetes.io/managed-by": "kyverno",
    "generate.kyverno.io/policy-name": "multicluster-gitops-register-capi-clusters",
    "generate.kyverno.io/policy-namespace": "",
    "generate.kyverno.io/rule-name": "register-kubeadm-cluster",
    "generate.kyverno.io/trigger-kind": "Secret",
    "generate.kyverno.io/trigger-namespace": "workloads",
    "generate.kyverno.io/trigger-uid": "7d3c",
}


def _as_kyverno_wrote_it(world: World, name: str, *, registered_label: bool = True,
                         tamper: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Register ``name`` with the module, then turn its Secret into the one Kyverno's policy keeps on a real hub."""
    world.run(name=name, namespace="workloads")
    secret = world.argocd_secrets()[f"cluster-workloads.{name}"]
    secret["metadata"]["labels"].update(KYVERNO_GENERATED_LABELS)
    if not registered_label:  # generated by a policy of an older release
        secret["metadata"]["labels"].pop("multicluster.gitops/registered")
    if tamper:
        tamper(secret)
    world.hub.requests.clear()
    return copy.deepcopy(secret)


@pytest.mark.parametrize("check_mode", [False, True], ids=["apply", "check"])
def test_secret_generated_by_the_policy_is_left_alone(world, check_mode):
    """Kyverno relabels what it generates (app.kubernetes.io/managed-by: kyverno plus generate.kyverno.io/*), so the
    module must recognise the policy's Secret by generate.kyverno.io/policy-name and never write it.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go (ManageLabels) and
    pkg/background/generate/generator.go (ManageLabels before every create and update).
    """
    world.add_cluster("dev", labels={"env": "test"})
    before = _as_kyverno_wrote_it(world, "dev")
    out = world.run(check_mode=check_mode)
    (result,) = out.results
    assert result.action == "skipped" and not out.changed
    assert result.reason.startswith("owned by the policy") and "identical to what the module would write" in result.reason
    assert world.hub.writes == 0 and out.diffs == [] and out.warnings == []
    assert world.argocd_secrets()["cluster-workloads.dev"] == before


def test_policy_secret_without_the_ownership_label_is_not_a_conflict(world):
    """A Secret written by the policy but not (yet) carrying multicluster.gitops/registered: the create answers 409,
    the module reads the Secret, sees the policy's label and skips it instead of failing.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go (managed-by overwritten with kyverno).
    """
    world.add_cluster("dev")
    before = _as_kyverno_wrote_it(world, "dev", registered_label=False)
    out = world.run()
    assert actions(out) == {"dev": "skipped"} and POLICY_OWNED in out.results[0].reason
    assert not out.failures and world.argocd_secrets()["cluster-workloads.dev"] == before


def test_check_mode_reports_how_a_policy_secret_differs(world):
    """Check mode compares the policy's Secret byte for byte with what the module would write and shows the diff."""
    world.add_cluster("dev", labels={"env": "test"})

    def stale(secret: dict[str, Any]) -> None:
        secret["data"]["config"] = b64('{"bearerToken":"old"}')
        secret["metadata"]["labels"]["env"] = "prod"

    before = _as_kyverno_wrote_it(world, "dev", tamper=stale)
    out = world.run(check_mode=True)
    (result,) = out.results
    assert result.action == "skipped" and not out.changed
    assert "differs from what the module would write: data.config, labels.env" in result.reason
    assert len(out.diffs) == 1 and out.diffs[0]["before"]["metadata"]["labels"]["env"] == "prod"
    assert "old" not in json.dumps(out.diffs)  # credentials stay redacted
    assert out.warnings and world.hub.writes == 0
    assert world.argocd_secrets()["cluster-workloads.dev"] == before


def test_policy_secret_is_neither_removed_nor_pruned(world):
    world.add_cluster("dev")
    _as_kyverno_wrote_it(world, "dev")
    out = world.run(name="dev", namespace="workloads", state="absent")
    assert actions(out) == {"dev": "skipped"} and POLICY_OWNED in out.results[0].reason
    del world.hub.objects[("cluster.x-k8s.io/clusters", "workloads", "dev")]
    out = world.run(prune=True)
    assert out.results == [] and "cluster-workloads.dev" in world.argocd_secrets()
    assert world.hub.writes == 0


# --- fleet scale: what is listed, written and returned -------------------------------------------

def test_default_report_lists_only_clusters_that_are_not_unchanged(world):
    """The summary counts every cluster; ``clusters`` lists the unchanged ones only with report=all."""
    for name in ("a", "b", "c"):
        world.add_cluster(name, labels={"env": "dev"})
    assert _run_main({"namespace": "workloads"}, world.hub)["summary"]["created"] == 3
    cluster = world.hub.objects[("cluster.x-k8s.io/clusters", "workloads", "b")]
    cluster["metadata"]["labels"]["env"] = "prod"
    result = _run_main({"namespace": "workloads"}, world.hub)
    assert result["changed"] and [(c["cluster"], c["action"]) for c in result["clusters"]] == [("b", "updated")]
    assert (result["summary"]["updated"], result["summary"]["unchanged"]) == (1, 2)
    quiet = _run_main({"namespace": "workloads"}, world.hub)
    assert not quiet["changed"] and quiet["clusters"] == [] and quiet["summary"]["unchanged"] == 3
    full = _run_main({"namespace": "workloads", "report": "all"}, world.hub)
    assert [(c["cluster"], c["action"]) for c in full["clusters"]] == [(n, "unchanged") for n in ("a", "b", "c")]


def _managed_listed(world: World) -> list[int]:
    """Wrap the hub: record how many Argo CD Secrets each LIST in namespace argocd returned."""
    counts: list[int] = []
    real = world.hub.handle

    def handle(method, path, query, body, token):
        out = real(method, path, query, body, token)
        if method == "GET" and path == "/api/v1/namespaces/argocd/secrets":
            counts.append(len(out["items"]))
        return out

    world.hub.handle = handle
    return counts


@pytest.mark.parametrize("params,listed", [
    ({"namespace": "team-a"}, 2),
    ({"name": "a1", "namespace": "team-a"}, 1),
    ({"clusters": [{"name": "a1", "namespace": "team-a"}, {"name": "b1", "namespace": "team-b"}]}, 5),
    ({"namespace": "team-a", "prune": True}, 2),
    ({"clusters": [{"name": "a1", "namespace": "team-a"}], "prune": True}, 5),  # prune looks at every namespace
    ({"label_selector": "env=dev"}, 5),
])
def test_only_the_managed_secrets_of_the_selection_are_listed(world, params, listed):
    for name, namespace in (("a1", "team-a"), ("a2", "team-a"), ("b1", "team-b"), ("b2", "team-b"), ("c1", "c")):
        world.add_cluster(name, namespace, labels={"env": "dev"})
    world.run()
    world.hub.requests.clear()
    counts = _managed_listed(world)
    outcome = world.run(**params)
    assert counts == [listed]
    assert outcome.summary()["unchanged"] == len(outcome.results) and world.hub.writes == 0


def test_a_managed_secret_the_selection_list_missed_is_updated_not_refused(world):
    """A Secret labelled registered but without the cluster-namespace/name labels is found by the create's 409."""
    world.add_cluster("dev")
    world.run(name="dev", namespace="workloads")
    secret = world.argocd_secrets()["cluster-workloads.dev"]
    for label in ("multicluster.gitops/cluster-namespace", "multicluster.gitops/cluster-name"):
        del secret["metadata"]["labels"][label]
    outcome = world.run(namespace="workloads")
    assert actions(outcome) == {"dev": "updated"}
    labels = world.argocd_secrets()["cluster-workloads.dev"]["metadata"]["labels"]
    assert labels["multicluster.gitops/cluster-namespace"] == "workloads"
    assert world.run(namespace="workloads").summary()["unchanged"] == 1


def test_parallel_writes_keep_the_order_of_results_diffs_and_warnings(world):
    names = [f"c{i:02d}" for i in range(12)]
    for name in names:
        world.add_cluster(name, oke=name.endswith(("3", "7")))
    serial = world.run(check_mode=True, parallel=1, credential_mode="kubeconfig")
    parallel = world.run(check_mode=True, parallel=8, credential_mode="kubeconfig")
    assert [r.cluster for r in parallel.results] == names
    assert parallel.results == serial.results
    assert [d["before_header"] for d in parallel.diffs] == [d["before_header"] for d in serial.diffs]
    assert [d["after_header"] for d in parallel.diffs] == [f"Secret argocd/cluster-workloads.{n}" for n in names]
    assert parallel.warnings == serial.warnings and len(parallel.warnings) == 0


def test_writes_start_while_later_kubeconfigs_are_parsed(world):
    """With parallel writes, the first clusters are written while the last kubeconfig is still being parsed
    (parsing 1000 kubeconfigs used to finish before the first write); results keep the clusters' order."""
    from ansible_collections.multicluster.gitops.plugins.module_utils import _argocd_registration as registration

    names = [f"c{i:02d}" for i in range(6)]
    for name in names:
        world.add_cluster(name)
    last = world.hub.objects[("/secrets", "workloads", f"{names[-1]}-kubeconfig")]["data"]["value"]
    written = threading.Event()
    seen: dict[str, bool] = {}
    parse, apply = registration.parse_kubeconfig, registration.Registrar._apply

    def parse_waiting_for_a_write(value, **kwargs):
        if value == last:  # bounded: without overlap the event never comes and the test fails, it does not hang
            seen["written before the last parse"] = written.wait(timeout=10)
        return parse(value, **kwargs)

    def apply_and_tell(self, item):
        apply(self, item)
        written.set()

    with mock.patch.object(registration, "parse_kubeconfig", parse_waiting_for_a_write), \
            mock.patch.object(registration.Registrar, "_apply", apply_and_tell):
        outcome = world.run(parallel=4, credential_mode="kubeconfig")
    assert seen == {"written before the last parse": True}
    assert [r.cluster for r in outcome.results] == names
    assert set(actions(outcome).values()) == {"created"}
    assert len(world.argocd_secrets()) == len(names)
