"""Role capi_workloads against the emulated hub: create, idempotence, check mode, state absent.

The hub is a kubemu server with every CRD of the CRD folder, and kubemu's CAPI simulator plays the
providers: it moves each Cluster to Available, starts an emulated API server for it and writes its
kubeconfig Secret, so the role's readiness wait (capi_cluster_wait) and Argo CD registration
(argocd_cluster_secret) run for real. There is no Helm (mcg_helm_enabled: false) and no provider
operator, so provider readiness is not awaited.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.helpers.ansible import run_playbook

pytestmark = [pytest.mark.integration, pytest.mark.slow]

if not (ROOT / "kubemu" / "pytest_plugin.py").exists():
    pytest.skip("the emulated Kubernetes API (kubemu) is not available", allow_module_level=True)

KEY_MATERIAL = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCintegrationkey"
CREDENTIALS = {
    "tenancy": "ocid1.tenancy.oc1..tenancy", "user": "ocid1.user.oc1..user",
    "key": f"-----BEGIN PRIVATE KEY-----\n{KEY_MATERIAL}\n-----END PRIVATE KEY-----\n",
    "fingerprint": "12:34:56:78:9a:bc:de:f0:12:34:56:78:9a:bc:de:f0", "region": "eu-frankfurt-1",
}
TEST_CLUSTER = {"name": "wl-test", "image_id": "ocid1.image.oc1..img", "labels": {"env": "test"},
                "workers": {"count": 2}}
PROD_CLUSTER = {"name": "wl-prod", "kind": "oke", "namespace": "prod-clusters", "kubernetes_version": "v1.31.1",
                "image_id": "ocid1.image.oc1..oke", "labels": {"env": "prod"}}
CAPI = "cluster.x-k8s.io/v1beta2"
INFRA = "infrastructure.cluster.x-k8s.io/v1beta2"
ARGOCD_SECRETS = "argocd.argoproj.io/secret-type=cluster"


def _vars(clusters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "capi_workloads_clusters": clusters,
        "capi_workloads_oci_credentials": CREDENTIALS,
        "capi_workloads_oci_compartment_id": "ocid1.compartment.oc1..workloads",
        "capi_workloads_provider_wait": False,
        "capi_workloads_wait_timeout": 120,
        "capi_workloads_delete_timeout": 60,
    }


def _play(tmp_path: Path, kubeconfig: Path, clusters: list[dict[str, Any]], *, check: bool = False):
    result = run_playbook(tmp_path, "playbooks/capi_workloads.yml", kubeconfig=kubeconfig,
                          extra_vars=_vars(clusters), check=check, diff=True, verbosity=1)
    assert result.rc == 0, result.stdout[-6000:]
    assert KEY_MATERIAL not in result.stdout
    for value in (CREDENTIALS["fingerprint"], CREDENTIALS["key"]):
        assert base64.b64encode(value.encode()).decode()[:40] not in result.stdout
    return result


@pytest.fixture
def hub(hub, kube_server_factory):
    """The shared fresh hub with the Argo CD namespace, and the simulated CAPI controller running on it."""
    from kubemu.capi_sim import CapiSimulator

    server = hub[0]
    server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
    sim = CapiSimulator(server, kube_server_factory, step_seconds=0.2).start()
    try:
        yield hub
    finally:
        sim.stop()


def _argocd_clusters(srv) -> dict[str, dict[str, str]]:
    """Argo CD cluster Secrets on the hub: name -> labels."""
    if srv.get("v1", "Namespace", "argocd") is None:
        return {}
    items = srv.list("v1", "Secret", "argocd")
    return {s["metadata"]["name"]: s["metadata"].get("labels", {}) for s in items
            if s["metadata"].get("labels", {}).get("argocd.argoproj.io/secret-type") == "cluster"}


def _ccm_config(srv, name: str) -> dict[str, Any]:
    """The cloud-provider.yaml the OCI CCM of workload cluster `name` gets (through its ClusterResourceSet Secret)."""
    import yaml

    secret = srv.get("v1", "Secret", f"{name}-oci-cloud-config", "workload-clusters")
    inner = next(yaml.safe_load_all(base64.b64decode(secret["data"]["oci-cloud-config.yaml"]).decode()))
    return yaml.safe_load(base64.b64decode(inner["data"]["cloud-provider.yaml"]))


def test_create_idempotent_check_mode_and_delete(hub, tmp_path: Path) -> None:
    """Upstream (load balancer subnet): oracle/oci-cloud-controller-manager @ v1.31.1 :
    pkg/cloudprovider/providers/oci/config/config_validate.go (vcn or loadBalancer.subnet1 is required) and
    pkg/cloudprovider/providers/oci/load_balancer.go (no subnet, no load balancer); oracle/cluster-api-provider-oci
    @ v0.24.0 : cloud/scope/subnet_reconciler.go and api/v1beta2/types.go (the subnet OCID is written into
    spec.networkSpec.vcn.subnets[].id)."""
    srv, kubeconfig = hub

    # --check on an empty hub: changes reported, nothing created
    checked = _play(tmp_path / "check", kubeconfig, [TEST_CLUSTER, PROD_CLUSTER], check=True)
    assert checked.changed() > 0
    assert srv.get(CAPI, "Cluster", "wl-test", "workload-clusters") is None
    assert srv.get("operator.cluster.x-k8s.io/v1alpha2", "CoreProvider", "cluster-api", "capi-system") is None

    # first run creates everything
    first = _play(tmp_path / "first", kubeconfig, [TEST_CLUSTER, PROD_CLUSTER])
    assert first.changed() >= 6
    assert "Skipped the cluster-api-operator chart" in first.stdout
    assert "would create Secret cluster-api-provider-oci-system/capoci-variables" in checked.stdout
    cluster = srv.get(CAPI, "Cluster", "wl-test", "workload-clusters")
    assert cluster["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "multicluster.gitops"
    assert srv.get(INFRA, "OCICluster", "wl-test", "workload-clusters")["spec"]["identityRef"]["name"]
    assert srv.get(CAPI, "MachineDeployment", "wl-test-md-0", "workload-clusters")["spec"]["replicas"] == 2
    # template syntax of other engines reaches the API untouched (cloud-init, CAAPH Go templates)
    kcp = srv.get("controlplane.cluster.x-k8s.io/v1beta2", "KubeadmControlPlane", "wl-test-control-plane",
                  "workload-clusters")
    assert {"name": "provider-id", "value": 'oci://{{ ds["id"] }}'} in \
        kcp["spec"]["kubeadmConfigSpec"]["initConfiguration"]["nodeRegistration"]["kubeletExtraArgs"]
    calico = srv.get("addons.cluster.x-k8s.io/v1alpha1", "HelmChartProxy", "calico", "workload-clusters")
    assert "{{ index .Cluster.spec.clusterNetwork.pods.cidrBlocks 0 }}" in calico["spec"]["valuesTemplate"]
    assert srv.get(CAPI, "MachinePool", "wl-prod-pool-0", "prod-clusters") is not None
    assert srv.get(INFRA, "OCIManagedControlPlane", "wl-prod", "prod-clusters")["spec"]["version"] == "v1.31.1"
    assert srv.get("operator.cluster.x-k8s.io/v1alpha2", "InfrastructureProvider", "oci",
                   "cluster-api-provider-oci-system")["spec"]["version"]
    principal = srv.get("v1", "Secret", "capoci-user-principal-credentials", "cluster-api-provider-oci-system")
    assert base64.b64decode(principal["data"]["tenancy"]).decode() == CREDENTIALS["tenancy"]
    assert srv.get("addons.cluster.x-k8s.io/v1alpha1", "HelmChartProxy", "calico", "workload-clusters")
    assert srv.get("addons.cluster.x-k8s.io/v1beta2", "ClusterResourceSet", "wl-test-oci-cloud-config",
                   "workload-clusters")
    # the OCI CCM configuration names the load balancer subnet CAPOCI (here the simulator) created
    infra = srv.get(INFRA, "OCICluster", "wl-test", "workload-clusters")
    lb_subnet = next(s["id"] for s in infra["spec"]["networkSpec"]["vcn"]["subnets"] if s["role"] == "service-lb")
    assert lb_subnet.startswith("ocid1.subnet.")
    assert _ccm_config(srv, "wl-test")["loadBalancer"]["subnet1"] == lb_subnet
    # ready (the wait passed) and registered in Argo CD with the entry's labels
    registered = _argocd_clusters(srv)
    assert {(labels.get("multicluster.gitops/cluster-name"), labels.get("env")) for labels in registered.values()} == {
        ("wl-test", "test"), ("wl-prod", "prod")}

    # second run: nothing to do
    second = _play(tmp_path / "second", kubeconfig, [TEST_CLUSTER, PROD_CLUSTER])
    assert second.changed() == 0, second.stdout[-4000:]
    # the add-on phase reads the OCIClusters again (waiting for the subnet) only when the clusters phase's read
    # lacked a service-lb subnet: in the first run (new cluster), not in the second
    read_networks = "TASK [multicluster.gitops.capi_workloads : Read the networks CAPOCI reconciled]"
    assert (first.stdout.count(read_networks), second.stdout.count(read_networks)) == (2, 1)

    # a cluster dropped from the list is left alone; state: absent deletes it and what the role made for it
    srv.reset_counters()
    gone = _play(tmp_path / "absent", kubeconfig, [{"name": "wl-test", "state": "absent"}, PROD_CLUSTER])
    assert gone.changed() > 0
    assert srv.get(CAPI, "Cluster", "wl-test", "workload-clusters") is None
    assert srv.get(INFRA, "OCICluster", "wl-test", "workload-clusters") is None
    assert srv.get(CAPI, "MachineDeployment", "wl-test-md-0", "workload-clusters") is None
    assert srv.get("v1", "Secret", "wl-test-oci-cloud-config", "workload-clusters") is None
    assert srv.get(CAPI, "Cluster", "wl-prod", "prod-clusters") is not None
    assert srv.requests[("DELETE", "clusters")] == 1
    assert {labels.get("multicluster.gitops/cluster-name") for labels in _argocd_clusters(srv).values()} == {"wl-prod"}


def test_destroy_removes_clusters_then_hub_objects(hub, tmp_path: Path) -> None:
    """playbooks/destroy.yml on a hub seeded directly (as the roles would leave it)."""
    srv, kubeconfig = hub
    managed = {"app.kubernetes.io/managed-by": "multicluster.gitops"}
    for ns in ("workload-clusters", "capi-system", "cluster-api-provider-oci-system"):
        srv.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": managed}})
    srv.create({"apiVersion": CAPI, "kind": "Cluster", "metadata": {
        "name": "wl-a", "namespace": "workload-clusters", "labels": {**managed, "env": "test"}}, "spec": {}})
    srv.create({"apiVersion": CAPI, "kind": "Cluster", "metadata": {
        "name": "foreign", "namespace": "default"}, "spec": {}})
    srv.create({"apiVersion": "operator.cluster.x-k8s.io/v1alpha2", "kind": "CoreProvider", "metadata": {
        "name": "cluster-api", "namespace": "capi-system", "labels": managed}, "spec": {"version": "v1.12.11"}})
    srv.create({"apiVersion": "addons.cluster.x-k8s.io/v1alpha1", "kind": "HelmChartProxy", "metadata": {
        "name": "ingress-nginx", "namespace": "workload-clusters", "labels": managed},
        "spec": {"chartName": "ingress-nginx", "repoURL": "https://kubernetes.github.io/ingress-nginx",
                 "clusterSelector": {"matchLabels": managed}}})
    # As the Kyverno policy leaves it: Kyverno overwrote managed-by, our registered label stays.
    srv.create({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "cluster-workload-clusters.wl-a", "namespace": "argocd",
        "labels": {"app.kubernetes.io/managed-by": "kyverno", "multicluster.gitops/registered": "true",
                   "argocd.argoproj.io/secret-type": "cluster"}}, "data": {}})

    refused = run_playbook(tmp_path / "refused", "playbooks/destroy.yml", kubeconfig=kubeconfig,
                           extra_vars={"mcg_destroy_confirm": False})
    assert refused.rc != 0 and "Not confirmed; nothing was deleted" in refused.stdout, refused.stdout[-3000:]
    assert srv.get(CAPI, "Cluster", "wl-a", "workload-clusters") is not None

    # the summary of the platform before destroy.yml: wl-a registered
    summary_dir = tmp_path / "platform-summary"
    summary_dir.mkdir()
    (summary_dir / "summary.json").write_text(json.dumps({"clusters": [
        {"cluster": "wl-a", "namespace": "workload-clusters", "registered": True}], "applicationsets": []}))

    destroyed = run_playbook(tmp_path / "destroy", "playbooks/destroy.yml", kubeconfig=kubeconfig,
                             extra_vars={"mcg_destroy_confirm": True, "capi_workloads_delete_timeout": 60,
                                         "mcg_summary_dir": str(summary_dir)})
    assert destroyed.rc == 0, destroyed.stdout[-6000:]
    assert srv.get(CAPI, "Cluster", "wl-a", "workload-clusters") is None
    assert srv.get(CAPI, "Cluster", "foreign", "default") is not None      # not the collection's
    assert _argocd_clusters(srv) == {}
    assert srv.list("operator.cluster.x-k8s.io/v1alpha2", "CoreProvider") == []
    assert srv.list("addons.cluster.x-k8s.io/v1alpha1", "HelmChartProxy") == []
    assert srv.get("v1", "Namespace", "workload-clusters") is None
    assert srv.get("v1", "Namespace", "cluster-api-provider-oci-system") is None
    assert "Skipped uninstalling the Helm releases" in destroyed.stdout
    # destroy.yml wrote the summary again: only the foreign Cluster is left, and nothing is registered
    summary = json.loads((summary_dir / "summary.json").read_text())
    assert [(r["namespace"], r["cluster"], r["registered"]) for r in summary["clusters"]] == [
        ("default", "foreign", False)]
    assert "registered (" not in (summary_dir / "summary.md").read_text()


def _cluster_only_play(tmp_path: Path, kubeconfig: Path, clusters: list[dict[str, Any]], *, check: bool = False,
                       extra: dict[str, Any] | None = None):
    """The role's Cluster objects phase only (preflight runs with it): no wait, no registration."""
    result = run_playbook(tmp_path, "playbooks/capi_workloads.yml", kubeconfig=kubeconfig,
                          extra_vars={**_vars(clusters), **(extra or {})}, check=check, diff=True,
                          tags="capi_workloads_clusters")
    assert result.rc == 0, result.stdout[-6000:]
    return result


def test_labels_dropped_from_the_inventory_leave_the_cluster(hub, tmp_path: Path) -> None:
    """The role records the label keys it sets on a Cluster (annotation multicluster.gitops/owned-labels); a recorded
    key the inventory no longer gives is removed, a label someone else set stays. Check mode reports the removal
    without making it; the run after it changes nothing."""
    srv, kubeconfig = hub
    gold = {**TEST_CLUSTER, "labels": {"env": "test", "tier": "gold"}}
    _cluster_only_play(tmp_path / "first", kubeconfig, [gold])
    cluster = srv.get(CAPI, "Cluster", "wl-test", "workload-clusters")
    record = cluster["metadata"]["annotations"]["multicluster.gitops/owned-labels"].split(",")
    assert {"env", "tier", "app.kubernetes.io/managed-by", "multicluster.gitops/cluster-kind"} <= set(record)
    cluster["metadata"]["labels"]["team"] = "blue"                 # someone else's label
    srv.update(cluster)

    checked = _cluster_only_play(tmp_path / "check", kubeconfig, [TEST_CLUSTER], check=True)
    assert checked.changed() > 0
    assert srv.get(CAPI, "Cluster", "wl-test", "workload-clusters")["metadata"]["labels"]["tier"] == "gold"

    _cluster_only_play(tmp_path / "apply", kubeconfig, [TEST_CLUSTER])
    cluster = srv.get(CAPI, "Cluster", "wl-test", "workload-clusters")
    labels = cluster["metadata"]["labels"]
    assert "tier" not in labels and labels["env"] == "test" and labels["team"] == "blue"
    assert "tier" not in cluster["metadata"]["annotations"]["multicluster.gitops/owned-labels"].split(",")

    again = _cluster_only_play(tmp_path / "again", kubeconfig, [TEST_CLUSTER])
    assert again.changed() == 0, again.stdout[-4000:]
    assert srv.get(CAPI, "Cluster", "wl-test", "workload-clusters")["metadata"]["labels"]["team"] == "blue"


IDENTITY_TAGS = "capi_workloads_providers,capi_workloads_identity,capi_workloads_clusters"
IDENTITY_NS = "cluster-api-provider-oci-system"


def _identity_play(tmp_path: Path, kubeconfig: Path, extra: dict[str, Any], *, check: bool = False):
    """Providers, identity and Cluster objects phases only: no wait, no registration, no add-ons."""
    result = run_playbook(tmp_path, "playbooks/capi_workloads.yml", kubeconfig=kubeconfig,
                          extra_vars={**_vars([TEST_CLUSTER]), **extra}, check=check, diff=True, tags=IDENTITY_TAGS,
                          verbosity=1)
    assert result.rc == 0, result.stdout[-6000:]
    assert KEY_MATERIAL not in result.stdout
    for value in (CREDENTIALS["fingerprint"], CREDENTIALS["key"]):   # the principal Secret's data, deleted or not
        assert base64.b64encode(value.encode()).decode()[:40] not in result.stdout
    return result


def _identity_ref(srv) -> dict[str, Any] | None:
    return srv.get(INFRA, "OCICluster", "wl-test", "workload-clusters")["spec"].get("identityRef")


def test_identity_switch_removes_the_old_identity_once_unused(hub, tmp_path: Path) -> None:
    """Another identity name, then capi_workloads_oci_identity: provider. The Clusters move first; then the identity
    the role created and its principal Secret go. An identity and a Secret the role did not create (no label
    app.kubernetes.io/managed-by=multicluster.gitops) stay, and so does an identity a cluster outside the inventory
    still uses. Check mode reports without deleting; the run after a switch changes nothing.

    Upstream: oracle/cluster-api-provider-oci @ v0.24.0 : api/v1beta2/ocicluster_webhook.go (ValidateUpdate keeps
    region, ociResourceIdentifier and compartmentId immutable, not identityRef), cloud/util/util.go
    (InitClientsAndRegion: a cluster with an identityRef uses that identity, else the provider's clients) and
    api/v1beta2/ociclusteridentity_types.go (spec.principalSecret)."""
    srv, kubeconfig = hub
    _identity_play(tmp_path / "first", kubeconfig, {})
    assert _identity_ref(srv)["name"] == "capoci-user-principal"
    assert srv.get("v1", "Secret", "capoci-user-principal-credentials", IDENTITY_NS) is not None
    # someone else's identity and Secret, not labelled as the collection's
    srv.create({"apiVersion": INFRA, "kind": "OCIClusterIdentity",
                "metadata": {"name": "by-hand", "namespace": IDENTITY_NS},
                "spec": {"type": "UserPrincipal", "principalSecret": {"name": "by-hand-credentials",
                                                                      "namespace": IDENTITY_NS},
                         "allowedNamespaces": {}}})
    srv.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "by-hand-credentials",
                                                                   "namespace": IDENTITY_NS}, "data": {}})

    # another name: the OCICluster moves to it, then the old identity and its Secret go
    renamed = {"capi_workloads_identity_name": "capoci-second"}
    checked = _identity_play(tmp_path / "check-rename", kubeconfig, renamed, check=True)
    assert checked.changed() > 0
    assert srv.get(INFRA, "OCIClusterIdentity", "capoci-user-principal", IDENTITY_NS) is not None
    assert _identity_ref(srv)["name"] == "capoci-user-principal"
    _identity_play(tmp_path / "rename", kubeconfig, renamed)
    assert _identity_ref(srv)["name"] == "capoci-second"
    assert srv.get(INFRA, "OCIClusterIdentity", "capoci-user-principal", IDENTITY_NS) is None
    assert srv.get("v1", "Secret", "capoci-user-principal-credentials", IDENTITY_NS) is None
    assert srv.get(INFRA, "OCIClusterIdentity", "capoci-second", IDENTITY_NS) is not None
    assert srv.get(INFRA, "OCIClusterIdentity", "by-hand", IDENTITY_NS) is not None
    again = _identity_play(tmp_path / "rename-again", kubeconfig, renamed)
    assert again.changed() == 0, again.stdout[-4000:]

    # a cluster outside the inventory still points at capoci-second: switching to provider keeps it for now
    srv.create({"apiVersion": INFRA, "kind": "OCICluster", "metadata": {
        "name": "elsewhere", "namespace": "workload-clusters", "labels": {"app.kubernetes.io/managed-by": "multicluster.gitops"}},
        "spec": {"compartmentId": "ocid1.compartment.oc1..x", "identityRef": {
            "apiVersion": INFRA, "kind": "OCIClusterIdentity", "name": "capoci-second", "namespace": IDENTITY_NS}}})
    provider = {**renamed, "capi_workloads_oci_identity": "provider"}
    checked = _identity_play(tmp_path / "check-provider", kubeconfig, provider, check=True)
    assert checked.changed() > 0 and _identity_ref(srv) is not None
    kept = _identity_play(tmp_path / "provider", kubeconfig, provider)
    assert _identity_ref(srv) is None                                   # the listed cluster uses the provider's
    assert srv.get(INFRA, "OCIClusterIdentity", "capoci-second", IDENTITY_NS) is not None
    assert "Kept OCIClusterIdentity cluster-api-provider-oci-system/capoci-second" in kept.stdout
    assert "OCICluster workload-clusters/elsewhere" in kept.stdout

    # once that cluster is gone, the next run removes the identity and its Secret; the unlabelled ones stay
    srv.delete(INFRA, "OCICluster", "elsewhere", "workload-clusters")
    _identity_play(tmp_path / "provider-again", kubeconfig, provider)
    assert srv.get(INFRA, "OCIClusterIdentity", "capoci-second", IDENTITY_NS) is None
    assert srv.get("v1", "Secret", "capoci-second-credentials", IDENTITY_NS) is None
    assert srv.get(INFRA, "OCIClusterIdentity", "by-hand", IDENTITY_NS) is not None
    assert srv.get("v1", "Secret", "by-hand-credentials", IDENTITY_NS) is not None
    last = _identity_play(tmp_path / "provider-last", kubeconfig, provider)
    assert last.changed() == 0, last.stdout[-4000:]


def test_a_failed_cluster_does_not_stop_the_registration_of_the_ready_ones(hub, tmp_path: Path) -> None:
    """wl-bad fails (the simulator's failure annotation, set before the role applies it): wl-test and wl-prod still
    get their Argo CD Secret, wl-bad none, and the run fails naming wl-bad with its condition text."""
    from kubemu.capi_sim import FAIL_ANNOTATION

    srv, kubeconfig = hub
    srv.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "workload-clusters"}})
    srv.create({"apiVersion": CAPI, "kind": "Cluster", "metadata": {
        "name": "wl-bad", "namespace": "workload-clusters",
        "annotations": {FAIL_ANNOTATION: "quota exceeded for VM.Standard.E4.Flex"}}, "spec": {}})
    bad = {"name": "wl-bad", "image_id": "ocid1.image.oc1..img", "labels": {"env": "test"}}
    result = run_playbook(tmp_path, "playbooks/capi_workloads.yml", kubeconfig=kubeconfig,
                          extra_vars=_vars([TEST_CLUSTER, bad, PROD_CLUSTER]))
    out = " ".join(result.stdout.split())
    assert result.rc != 0 and result.failed() == 1, result.stdout[-6000:]
    registered = {labels.get("multicluster.gitops/cluster-name") for labels in _argocd_clusters(srv).values()}
    assert registered == {"wl-test", "wl-prod"}, result.stdout[-6000:]
    assert ("1 workload cluster(s) did not reach available: workload-clusters/wl-bad: phase Failed; "
            "InfrastructureReady=False "
            "(OCIClusterProvisioningFailed: quota exceeded for VM.Standard.E4.Flex)") in out, result.stdout[-6000:]
    assert "The ready ones (wl-prod, wl-test) went on and were registered in Argo CD." in out, result.stdout[-6000:]
