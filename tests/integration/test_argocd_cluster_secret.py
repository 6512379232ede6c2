"""argocd_cluster_secret over HTTPS against kubemu: a hub with the real CRDs plus workload API servers.

The tests act as CAPI: they create Cluster objects, set their status and write `<cluster>-kubeconfig` Secrets
holding kubeconfigs of the workload servers (client certificates, like kubeadm; the admin token for OKE).
"""
from __future__ import annotations

import base64
import json
from typing import Any
from unittest import mock

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_cluster import (
    build_cluster_secret,
    parse_kubeconfig,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_service_account import (
    kubeconfig_client,
    token_kubeconfig,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import ApiError
from ansible_collections.multicluster.gitops.plugins.modules import argocd_cluster_secret as module
from tests.helpers.ansible import run_playbook

pytestmark = pytest.mark.integration

CAPI = "cluster.x-k8s.io/v1beta2"
NS = "fleet"


def b64(data: str | bytes) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def writes(srv) -> int:
    return sum(n for (method, plural), n in srv.requests.items() if method != "GET")


class Fleet:
    """A hub and its CAPI objects."""

    def __init__(self, hub, tmp_path) -> None:
        self.hub = hub
        self.kubeconfig = hub.write_kubeconfig(tmp_path / "hub.kubeconfig")
        for ns in ("argocd", NS):
            hub.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    def add(self, name: str, workload, *, labels: dict[str, str] | None = None, initialized: bool = True,
            oke: bool = False, v1beta1: bool = False, kubeconfig: dict[str, Any] | str | None = None) -> None:
        infra = {"kind": "OCIManagedCluster" if oke else "OCICluster", "name": name}
        control = {"kind": "OCIManagedControlPlane" if oke else "KubeadmControlPlane", "name": name}
        if v1beta1:
            infra["apiVersion"] = "infrastructure.cluster.x-k8s.io/v1beta2"
            control["apiVersion"] = ("infrastructure.cluster.x-k8s.io/v1beta2" if oke
                                     else "controlplane.cluster.x-k8s.io/v1beta2")
        else:
            infra["apiGroup"] = "infrastructure.cluster.x-k8s.io"
            control["apiGroup"] = "infrastructure.cluster.x-k8s.io" if oke else "controlplane.cluster.x-k8s.io"
        api_version = "cluster.x-k8s.io/v1beta1" if v1beta1 else CAPI
        self.hub.create({"apiVersion": api_version, "kind": "Cluster",
                         "metadata": {"name": name, "namespace": NS, "labels": labels or {}},
                         "spec": {"infrastructureRef": infra, "controlPlaneRef": control}})
        if initialized:
            self.initialize(name, v1beta1=v1beta1)
        if kubeconfig is None:
            # kubeadm: an admin client certificate; OKE (CAPOCI): a token.
            kubeconfig = workload.kubeconfig_dict(client_cert=not oke, context=f"{name}-admin@{name}")
        value = b64(kubeconfig if isinstance(kubeconfig, str) else yaml.safe_dump(kubeconfig))
        self.hub.create({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                         "metadata": {"name": f"{name}-kubeconfig", "namespace": NS,
                                      "labels": {"cluster.x-k8s.io/cluster-name": name}},
                         "data": {"value": value}})

    def initialize(self, name: str, *, v1beta1: bool = False) -> None:
        condition = {"type": "ControlPlaneInitialized", "status": "True", "reason": "Initialized",
                     "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}
        if v1beta1:
            self.hub.patch_status("cluster.x-k8s.io/v1beta1", "Cluster", name, NS,
                                  {"conditions": [{k: v for k, v in condition.items() if k != "message"}]})
        else:
            self.hub.patch_status(CAPI, "Cluster", name, NS, {"initialization": {"controlPlaneInitialized": True},
                                                              "conditions": [condition]})

    def cluster(self, name: str) -> dict[str, Any]:
        return self.hub.get(CAPI, "Cluster", name, NS)

    def argocd_secret(self, name: str) -> dict[str, Any] | None:
        return self.hub.get("v1", "Secret", f"cluster-{NS}.{name}", "argocd")

    def config(self, name: str) -> dict[str, Any]:
        return json.loads(base64.b64decode(self.argocd_secret(name)["data"]["config"]))

    def run(self, *, check: bool = False, diff: bool = False, **params: Any) -> dict[str, Any]:
        """Run the module in this process (real HTTP, real kube client) and return its result."""
        class Done(Exception):
            pass

        result: dict[str, Any] = {}

        def finish(failed: bool):
            def capture(self, **kwargs):
                result.update(kwargs, failed=failed, no_log_values=set(self.no_log_values))
                raise Done
            return capture

        args = {"kubeconfig": str(self.kubeconfig), "_ansible_check_mode": check, "_ansible_diff": diff, **params}
        with patch_module_args(args), mock.patch.object(module.AnsibleModule, "exit_json", finish(False)), \
                mock.patch.object(module.AnsibleModule, "fail_json", finish(True)):
            with pytest.raises(Done):
                module.main()
        return result


def actions(result: dict[str, Any]) -> dict[str, str]:
    return {c["cluster"]: c["action"] for c in result["clusters"]}


def works(server: str, config: dict[str, Any]) -> bool:
    """Whether Argo CD's stored credentials authenticate against the workload API (GET /version)."""
    tls = config["tlsClientConfig"]
    user = ({"token": config["bearerToken"]} if "bearerToken" in config
            else {"client-certificate-data": tls["certData"], "client-key-data": tls["keyData"]})
    doc = token_kubeconfig(server, tls["caData"], "unused")
    doc["users"][0]["user"] = user
    try:
        kubeconfig_client(doc).request("GET", "/version", timeout=5)
    except ApiError as e:
        if e.status == 401:
            return False
        raise
    return True


@pytest.fixture
def fleet(kube_server_factory, kube_require_crds, tmp_path) -> Fleet:
    return Fleet(kube_server_factory("hub", crd_dir=kube_require_crds), tmp_path)


@pytest.fixture
def workloads(kube_server_factory):
    return [kube_server_factory(f"w{i}") for i in range(3)]


def test_label_removed_from_the_cluster_leaves_the_secret_others_stay(fleet, workloads):
    """Over HTTP: the module records the labels it copied (multicluster.gitops/owned-labels); a recorded label the CAPI
    Cluster lost is removed from the Argo CD Secret, an allow-listed label someone else set on the Secret stays. Check
    mode sends the update as a dry run only; the run after the removal writes nothing."""
    fleet.add("dev", workloads[0], labels={"env": "dev", "tier": "gold"})
    assert actions(fleet.run()) == {"dev": "created"}
    secret = fleet.argocd_secret("dev")
    assert secret["metadata"]["annotations"]["multicluster.gitops/owned-labels"] == "env,tier"
    secret["metadata"]["labels"]["region"] = "set-by-hand"
    fleet.hub.update(secret)
    cluster = fleet.cluster("dev")
    del cluster["metadata"]["labels"]["tier"]
    fleet.hub.update(cluster)

    checked = fleet.run(check=True, diff=True)
    assert checked["changed"] and actions(checked) == {"dev": "updated"}
    assert fleet.argocd_secret("dev")["metadata"]["labels"]["tier"] == "gold"

    assert actions(fleet.run()) == {"dev": "updated"}
    labels = fleet.argocd_secret("dev")["metadata"]["labels"]
    assert "tier" not in labels and labels["env"] == "dev" and labels["region"] == "set-by-hand"

    fleet.hub.reset_counters()
    again = fleet.run()
    assert not again["changed"] and writes(fleet.hub) == 0


def test_register_rerun_propagate_prune(fleet, workloads):
    fleet.add("dev", workloads[0], labels={"env": "dev", "team": "a"})
    fleet.add("prod", workloads[1], labels={"env": "prod", "region": "eu-frankfurt-1"})
    fleet.add("legacy", workloads[2], v1beta1=True)
    fleet.add("booting", workloads[2], initialized=False)
    hand_made = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                 "metadata": {"name": "hand-made", "namespace": "argocd",
                              "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
                 "data": {"name": b64("x"), "server": b64("https://x")}}
    fleet.hub.create(hand_made)

    first = fleet.run()
    assert not first["failed"] and first["changed"]
    assert actions(first) == {"booting": "pending", "dev": "created", "legacy": "created", "prod": "created"}

    kc = parse_kubeconfig(fleet.hub.get("v1", "Secret", "dev-kubeconfig", NS)["data"]["value"])
    expected = build_cluster_secret(fleet.cluster("dev"), kc)
    live = fleet.argocd_secret("dev")
    assert live["data"] == expected["data"] and live["type"] == "Opaque"
    assert {k: live["metadata"]["labels"][k] for k in expected["metadata"]["labels"]} == expected["metadata"]["labels"]
    assert "team" not in live["metadata"]["labels"]
    for name, srv in (("dev", workloads[0]), ("prod", workloads[1]), ("legacy", workloads[2])):
        assert works(srv.url, fleet.config(name)), name

    fleet.hub.reset_counters()
    second = fleet.run()
    # By default only the clusters that are not unchanged are listed; the summary counts them all.
    assert not second["changed"] and actions(second) == {"booting": "pending"}
    assert second["summary"]["unchanged"] == 3 and second["summary"]["pending"] == 1
    assert writes(fleet.hub) == 0
    assert sum(fleet.hub.requests.values()) == 4  # API group + one LIST per kind

    cluster = fleet.cluster("prod")
    cluster["metadata"]["labels"] = {"env": "staging"}
    fleet.hub.update(cluster)
    third = fleet.run()
    assert actions(third)["prod"] == "updated"
    labels = fleet.argocd_secret("prod")["metadata"]["labels"]
    assert labels["env"] == "staging" and "region" not in labels

    fleet.hub.delete(CAPI, "Cluster", "dev", NS)
    kept = fleet.run()
    assert "dev" not in actions(kept) and fleet.argocd_secret("dev") is not None  # prune is off by default
    pruned = fleet.run(prune=True)
    assert actions(pruned)["dev"] == "removed"
    assert fleet.argocd_secret("dev") is None
    assert fleet.hub.get("v1", "Secret", "hand-made", "argocd") is not None

    single = fleet.run(name="prod", namespace=NS, report="all")
    assert actions(single) == {"prod": "unchanged"}
    removed = fleet.run(name="prod", namespace=NS, state="absent")
    assert actions(removed) == {"prod": "removed"} and fleet.argocd_secret("prod") is None
    assert fleet.argocd_secret("legacy") is not None


def test_check_mode_changes_nothing(fleet, workloads):
    fleet.add("dev", workloads[0], labels={"env": "dev"})
    fleet.add("oke", workloads[1], oke=True)
    check = fleet.run(check=True, diff=True)
    assert check["changed"] and actions(check) == {"dev": "created", "oke": "created"}
    assert fleet.argocd_secret("dev") is None and fleet.argocd_secret("oke") is None
    assert workloads[1].get("v1", "ServiceAccount", "argocd-manager", "kube-system") is None
    assert "multicluster.gitops/credential-mode" not in (fleet.cluster("oke")["metadata"].get("labels") or {})
    assert fleet.hub.requests[("POST", "secrets")] == 2  # both validated with dryRun=All

    fleet.run()
    before = fleet.argocd_secret("dev")
    cluster = fleet.cluster("dev")
    cluster["metadata"]["labels"]["env"] = "prod"
    fleet.hub.update(cluster)
    check = fleet.run(check=True, diff=True)
    assert actions(check)["dev"] == "updated"
    assert fleet.argocd_secret("dev")["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    diff = [d for d in check["diff"] if d["after_header"].endswith("cluster-fleet.dev")][0]
    assert diff["before"]["metadata"]["labels"]["env"] == "dev" and diff["after"]["metadata"]["labels"]["env"] == "prod"
    assert diff["after"]["data"]["config"]["tlsClientConfig"]["keyData"].startswith("<redacted")


def test_service_account_mode_and_token_revocation(fleet, workloads):
    oke = workloads[1]
    fleet.add("oke", oke, oke=True, labels={"env": "prod"})
    first = fleet.run()
    assert actions(first) == {"oke": "created"}
    assert first["clusters"][0]["credential_mode"] == "service_account"
    for kind, name, ns in (("ServiceAccount", "argocd-manager", "kube-system"),
                           ("Secret", "argocd-manager-token", "kube-system")):
        assert oke.get("v1", kind, name, ns) is not None
    role = oke.get("rbac.authorization.k8s.io/v1", "ClusterRole", "argocd-manager-role")
    assert role["rules"][0] == {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
    binding = oke.get("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "argocd-manager-role-binding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "argocd-manager", "namespace": "kube-system"}]
    config = fleet.config("oke")
    assert config["bearerToken"] != oke.admin_token and works(oke.url, config)
    assert fleet.cluster("oke")["metadata"]["labels"]["multicluster.gitops/credential-mode"] == "service_account"
    assert fleet.argocd_secret("oke")["metadata"]["annotations"]["multicluster.gitops/credential-mode"] == \
        "service_account"

    fleet.hub.reset_counters()
    oke.reset_counters()
    again = fleet.run(report="all")
    assert actions(again) == {"oke": "unchanged"}
    assert writes(fleet.hub) == 0 and writes(oke) == 0

    oke.delete("v1", "Secret", "argocd-manager-token", "kube-system")  # revokes the token
    assert not works(oke.url, config)
    reissued = fleet.run()
    assert actions(reissued) == {"oke": "updated"}
    new = fleet.config("oke")
    assert new["bearerToken"] != config["bearerToken"] and works(oke.url, new)


def test_one_failure_does_not_stop_the_others(fleet, workloads, kube_server_factory):
    gone = kube_server_factory("gone")
    gone_kubeconfig = gone.kubeconfig_dict(context="unreachable")
    gone.stop()
    fleet.add("good", workloads[0])
    fleet.add("unreachable", gone, oke=True, kubeconfig=gone_kubeconfig)
    fleet.add("malformed", workloads[1], kubeconfig="clusters: [unclosed")
    exec_kc = workloads[2].kubeconfig_dict(context="exec")
    exec_kc["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "oci"}}
    fleet.add("execuser", workloads[2], kubeconfig=exec_kc)

    result = fleet.run(workload_timeout=3)
    assert result["failed"]
    assert actions(result) == {"execuser": "failed", "good": "created", "malformed": "failed",
                               "unreachable": "failed"}
    for name in ("fleet/unreachable", "fleet/malformed", "fleet/execuser"):
        assert name in result["msg"]
    assert "service_account" in result["msg"] and "not valid YAML" in result["msg"]
    assert fleet.argocd_secret("good") is not None

    tolerated = fleet.run(workload_timeout=3, tolerate_failures=True)
    assert not tolerated["failed"] and tolerated["summary"]["failed"] == 3


def test_hundred_clusters_in_one_call(fleet, workloads):
    for i in range(100):
        fleet.add(f"c{i:03d}", workloads[i % 3], labels={"tier": str(i % 2)})
    fleet.hub.reset_counters()
    first = fleet.run()
    assert first["summary"]["created"] == 100
    assert fleet.hub.requests[("POST", "secrets")] == 100
    assert sum(fleet.hub.requests.values()) == 104
    fleet.hub.reset_counters()
    second = fleet.run()
    assert second["summary"]["unchanged"] == 100 and writes(fleet.hub) == 0


def test_playbook_vvv_output_holds_no_key_material(fleet, workloads, tmp_path):
    fleet.add("dev", workloads[0])
    fleet.add("oke", workloads[1], oke=True)
    fleet.add("broken", workloads[2], kubeconfig=workloads[2].kubeconfig_dict(context="x") | {"current-context": ""})
    playbook = """
- hosts: hub
  gather_facts: false
  tasks:
    - name: Register the fleet
      multicluster.gitops.argocd_cluster_secret:
        kubeconfig: "{{ mcg_hub_kubeconfig }}"
        namespace: fleet
        tolerate_failures: true
      register: reg
    - name: Show the result
      ansible.builtin.debug:
        var: reg
"""
    result = run_playbook(tmp_path, playbook, kubeconfig=fleet.kubeconfig, verbosity=3, diff=True)
    assert result.rc == 0, result.stdout[-3000:]
    assert result.changed() == 1
    assert "cluster-fleet.dev" in result.stdout and "cluster-fleet.oke" in result.stdout

    secrets: list[str] = [fleet.hub.admin_token, workloads[1].admin_token]
    for name in ("dev", "oke"):
        config = fleet.config(name)
        tls = config["tlsClientConfig"]
        secrets += [v for v in (config.get("bearerToken"), tls.get("certData"), tls.get("keyData")) if v]
        secrets.append(fleet.argocd_secret(name)["data"]["config"])
    pem_lines = []
    for value in list(secrets):
        try:
            text = base64.b64decode(value, validate=True).decode()
        except ValueError:
            continue
        pem_lines += [line for line in text.splitlines() if len(line) > 40 and "-----" not in line]
    assert len(secrets) == 7 and pem_lines
    for value in secrets + pem_lines:
        assert value not in result.stdout


def _kyverno_takes_over(fleet: Fleet, name: str, *, registered_label: bool) -> dict[str, Any]:
    """Rewrite the module's Secret of ``name`` as Kyverno's background controller stores a generated Secret."""
    secret = fleet.argocd_secret(name)
    labels = secret["metadata"]["labels"]
    labels.update({"app.kubernetes.io/managed-by": "kyverno",
                   "generate.kyverno.io/policy-name": "multicluster-gitops-register-capi-clusters",
                   "generate.kyverno.io/policy-namespace": "", "generate.kyverno.io/rule-name": "register-kubeadm-cluster",
                   "generate.kyverno.io/trigger-kind": "Secret", "generate.kyverno.io/trigger-namespace": NS})
    if not registered_label:
        labels.pop("multicluster.gitops/registered")
    return fleet.hub.update(secret)


@pytest.mark.parametrize("registered_label", [True, False], ids=["current-policy", "older-policy"])
def test_secret_generated_by_kyverno_is_skipped_not_a_409(fleet, workloads, registered_label):
    """On a real hub Kyverno sets app.kubernetes.io/managed-by: kyverno on the Secret it generates. The module used to
    miss it in its LIST, POST the same name and fail with 409; it now skips it, in check mode and for real, and
    check mode confirms that the policy's Secret is byte-identical to its own.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go (ManageLabels) and
    pkg/background/generate/generator.go (ManageLabels before CreateResource/UpdateResource).
    """
    fleet.add("dev", workloads[0], labels={"env": "dev"})
    assert actions(fleet.run()) == {"dev": "created"}
    before = _kyverno_takes_over(fleet, "dev", registered_label=registered_label)
    fleet.hub.reset_counters()
    for check in (True, False):
        result = fleet.run(check=check, diff=True)
        assert not result["failed"] and not result["changed"], result.get("msg")
        (row,) = result["clusters"]
        assert row["action"] == "skipped" and row["reason"].startswith("owned by the policy")
        if registered_label:
            assert "identical to what the module would write" in row["reason"]
        else:  # a policy of an older release: Kyverno relabels it once the current policy is applied
            assert row["reason"].endswith("differs from what the module would write: "
                                          "labels.multicluster.gitops/registered")
            assert len(result["diff"]) == (1 if check else 0)
    # the older policy's Secret is not in the module's LIST: its create is refused (409), then it is read and left
    assert writes(fleet.hub) == (0 if registered_label else 2)
    assert fleet.argocd_secret("dev")["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
