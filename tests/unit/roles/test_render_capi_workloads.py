"""Role capi_workloads: rendered objects (schema-valid, wired together) and preflight failures.

The role is rendered by ansible-playbook itself (tasks_from: render.yml, preflight.yml), so the
templates, defaults and filters are exactly those a real run uses; no cluster is contacted.
"""
from __future__ import annotations

import base64
import fcntl
import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from realengines.build import binary
from realengines.pytest_plugin import require_real_engines
from tests.conftest import CRD_DIR, ROOT
from tests.helpers.ansible import isolated_env
from tests.unit.roles.capi_schema import CrdSchemas

HERE = Path(__file__).resolve().parent
ROLE = ROOT / "roles" / "capi_workloads"
KEY_MATERIAL = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7capitestkey"
PASSPHRASE = "capi-test-passphrase-7f3a"

CREDENTIALS = {
    "tenancy": "ocid1.tenancy.oc1..tenancy",
    "user": "ocid1.user.oc1..user",
    "key": f"-----BEGIN PRIVATE KEY-----\n{KEY_MATERIAL}\n-----END PRIVATE KEY-----\n",
    "fingerprint": "12:34:56:78:9a:bc:de:f0:12:34:56:78:9a:bc:de:f0",
    "region": "eu-frankfurt-1",
    "passphrase": PASSPHRASE,
}
SELF_MANAGED = {
    "name": "wl-test-1", "kind": "self-managed", "kubernetes_version": "v1.31.4",
    "image_id": "ocid1.image.oc1..selfmanaged",
    "control_plane": {"shape": "VM.Standard.E5.Flex", "ocpus": 4, "memory_gbs": 32, "count": 3},
    "workers": {"shape": "VM.Standard.E4.Flex", "ocpus": 2, "memory_gbs": 16, "count": 3},
    "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest capi@test",
    "labels": {"env": "test", "region": "eu-frankfurt-1"},
}
OKE = {
    "name": "wl-prod-1", "kind": "oke", "namespace": "prod-clusters", "kubernetes_version": "1.31.1",
    "image_id": "ocid1.image.oc1..okenode", "oke_cni": "vcn_native",
    "workers": {"shape": "VM.Standard.E4.Flex", "ocpus": 4, "memory_gbs": 64, "count": 5},
    "network": {"vcn_id": "ocid1.vcn.oc1..prod", "subnets": {
        "control_plane_endpoint": "ocid1.subnet.oc1..cpe", "worker": "ocid1.subnet.oc1..wrk",
        "service_lb": "ocid1.subnet.oc1..lb", "pod": "ocid1.subnet.oc1..pod"}},
    "labels": {"env": "prod", "region": "eu-frankfurt-1", "team": "payments"},
}
# An OKE cluster whose API endpoint subnet is public, and a self-managed cluster in a VCN CAPOCI
# creates with a CIDR other than CAPOCI's default.
OKE_PUBLIC = {**OKE, "name": "wl-prod-2", "network": {"vcn_id": "ocid1.vcn.oc1..prod", "subnets": {
    **OKE["network"]["subnets"], "control_plane_endpoint": {"id": "ocid1.subnet.oc1..cpe", "type": "Public"},
    "worker": {"id": "ocid1.subnet.oc1..wrk", "type": "private"}}}}
NEW_VCN = {**SELF_MANAGED, "name": "wl-test-3", "network": {"vcn_cidr": "10.20.0.0/16"}}
IN_MEMORY = {"name": "mem-1", "kubernetes_version": "v1.34.2", "control_plane": {"count": 1}, "workers": {"count": 2},
             "labels": {"env": "test"}}
BASE_VARS = {
    "capi_workloads_oci_credentials": CREDENTIALS,
    "capi_workloads_oci_compartment_id": "ocid1.compartment.oc1..workloads",
}


def _variant_b_files(tmp: Path) -> dict[str, Path]:
    calico = tmp / "calico.yaml"
    calico.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: calico-system\n")
    nginx = tmp / "ingress-nginx.yaml"
    nginx.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ingress-nginx\n")
    return {"calico": calico, "ingress_nginx": nginx}


def _render_all(tmp: Path) -> dict[str, Any]:
    """One ansible-playbook run (tests/unit/roles/capi_render.yml) rendering both variants and the
    preflight cases; returns {'a': objects, 'b': objects, 'preflight': outcomes, 'output': text}."""
    files = _variant_b_files(tmp)
    existing = {**SELF_MANAGED, "name": "wl-test-2", "network": {"vcn_id": "ocid1.vcn.oc1..test", "subnets": {
        "control_plane_endpoint": "ocid1.subnet.oc1..cpe", "control_plane": "ocid1.subnet.oc1..cp",
        "worker": "ocid1.subnet.oc1..wrk", "service_lb": "ocid1.subnet.oc1..lb"}}}
    plays = {
        # A: CAAPH add-ons, OCIClusterIdentity with a user principal, a self-managed cluster in a
        # CAPOCI-managed VCN, an OKE cluster in an existing VCN and an absent entry.
        "a": {**BASE_VARS, "capi_workloads_clusters": [SELF_MANAGED, OKE, {"name": "wl-old", "state": "absent"}],
              # what tasks/capoci_network.yml reads from an OCICluster CAPOCI has reconciled
              "__capi_workloads_capoci_ids": {"workload-clusters/wl-test-1": {
                  "subnets": {"service-lb": "ocid1.subnet.oc1..svclb", "worker": "ocid1.subnet.oc1..nodes"},
                  "nsgs": {"worker": "ocid1.networksecuritygroup.oc1..nodes"}}}},
        # B: no CAAPH (ClusterResourceSets from local files), instance principal through the provider's
        # variables Secret, a self-managed cluster in an existing VCN.
        "b": {"capi_workloads_oci_compartment_id": "ocid1.compartment.oc1..workloads",
              "capi_workloads_oci_auth": "instance_principal", "capi_workloads_oci_identity": "provider",
              "capi_workloads_oci_region": "eu-frankfurt-1", "capi_workloads_caaph_enabled": False,
              "capi_workloads_crs_manifests": {k: {"url": "", "file": str(v)} for k, v in files.items()},
              "capi_workloads_clusters": [existing, OKE_PUBLIC, NEW_VCN]},
        # M: Cluster API's in-memory infrastructure (inventories/engines): no OCI variables at all.
        "m": {"capi_workloads_infrastructure": "in_memory", "capi_workloads_clusters": [IN_MEMORY]},
        "pf": {**BASE_VARS, "capi_workloads_clusters": [SELF_MANAGED, OKE],
               "capi_cases": [{"id": case[0], "vars": case[1]} for case in PREFLIGHT_CASES],
               "capi_failing_clusters": [SELF_MANAGED, {**OKE, "kind": "eks", "workers": {"count": 0}}]},
    }
    extra: dict[str, Any] = {"ansible_python_interpreter": sys.executable}
    for key, variables in plays.items():
        (tmp / f"{key}-vars.json").write_text(json.dumps(variables))
        extra[f"capi_{key}_vars"] = str(tmp / f"{key}-vars.json")
        extra[f"capi_{key}_out"] = str(tmp / f"{key}-out.json")
    (tmp / "extra.json").write_text(json.dumps(extra))
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           str(HERE / "capi_render.yml"), "-e", f"@{tmp / 'extra.json'}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=isolated_env(tmp), capture_output=True, text=True,
                          timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    return {"a": json.loads((tmp / "a-out.json").read_text()), "b": json.loads((tmp / "b-out.json").read_text()),
            "m": json.loads((tmp / "m-out.json").read_text()),
            "preflight": json.loads((tmp / "pf-out.json").read_text()), "output": output,
            "calico": files["calico"].read_text()}


@pytest.fixture(scope="session")
def capi_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The rendering, done once per test session even under pytest-xdist (workers share the result
    through a file guarded by a lock in the session's common temp folder)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    cache = shared / "capi-render.json"
    with open(shared / "capi-render.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cache.exists():
            tmp = shared / "capi-render"
            tmp.mkdir(exist_ok=True)
            cache.write_text(json.dumps(_render_all(tmp)))
    return json.loads(cache.read_text())


@pytest.fixture(scope="session")
def rendered(capi_outputs: dict[str, Any]) -> dict[str, Any]:
    return {"objects": capi_outputs["a"], "output": capi_outputs["output"]}


@pytest.fixture(scope="session")
def rendered_crs(capi_outputs: dict[str, Any]) -> dict[str, Any]:
    return {"objects": capi_outputs["b"], "output": capi_outputs["output"], "calico": capi_outputs["calico"]}


CAPI_GROUPS = ("cluster.x-k8s.io_", "bootstrap.cluster.x-k8s.io_", "controlplane.cluster.x-k8s.io_",
               "infrastructure.cluster.x-k8s.io_", "addons.cluster.x-k8s.io_", "operator.cluster.x-k8s.io_")


@pytest.fixture(scope="session")
def schemas() -> CrdSchemas:
    if not CRD_DIR.is_dir():
        pytest.skip(f"CRD folder {CRD_DIR} is absent (set MCG_CRD_DIR)")
    return CrdSchemas(CRD_DIR, groups=CAPI_GROUPS)


def _all(objects: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [o for group in objects.values() for o in group]


def _find(objs: list[dict[str, Any]], kind: str, name: str | None = None, namespace: str | None = None) -> list:
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
            and (namespace is None or o["metadata"].get("namespace") == namespace)]


def _one(objs: list[dict[str, Any]], kind: str, name: str | None = None, namespace: str | None = None) -> dict:
    found = _find(objs, kind, name, namespace)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


# --- schemas ------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["rendered", "rendered_crs"])
def test_every_object_matches_its_crd_schema(variant: str, request: pytest.FixtureRequest,
                                             schemas: CrdSchemas) -> None:
    objs = _all(request.getfixturevalue(variant)["objects"])
    assert len(objs) > 15
    errors = [err for o in objs for err in schemas.errors(o)]
    assert errors == []


def test_every_crd_object_uses_the_storage_version(rendered: dict[str, Any], schemas: CrdSchemas) -> None:
    storage = schemas.storage
    custom = [o for o in _all(rendered["objects"]) if o["kind"] in storage]
    assert {o["kind"] for o in custom} >= {"Cluster", "OCICluster", "KubeadmControlPlane", "MachineDeployment",
                                           "MachinePool", "OCIManagedControlPlane", "HelmChartProxy"}
    assert [(o["kind"], o["apiVersion"]) for o in custom if o["apiVersion"] != storage[o["kind"]]] == []


def test_the_validator_rejects_unknown_fields_and_wrong_types(rendered: dict[str, Any], schemas: CrdSchemas) -> None:
    cluster = json.loads(json.dumps(_one(rendered["objects"]["clusters"], "Cluster", "wl-test-1")))
    cluster["spec"]["infrastructureRef"]["namespace"] = "x"          # gone in v1beta2
    cluster["spec"]["clusterNetwork"]["pods"]["cidrBlocks"] = "10.0.0.0/8"
    errors = schemas.errors(cluster)
    assert any("namespace" in e for e in errors) and any("cidrBlocks" in e for e in errors), errors


def test_manifests_shipped_in_cluster_resource_sets_are_valid_kubernetes(rendered: dict[str, Any],
                                                                         schemas: CrdSchemas) -> None:
    cm = _one(rendered["objects"]["addons"], "ConfigMap", "oci-cloud-provider-manifests")
    docs = [d for text in cm["data"].values() for d in yaml.safe_load_all(text) if d]
    kinds = {d["kind"] for d in docs}
    assert {"DaemonSet", "ClusterRole", "CSIDriver", "StorageClass", "Deployment"} <= kinds
    assert [e for d in docs for e in schemas.errors(d)] == []
    images = {c["image"] for d in docs if d["kind"] in ("DaemonSet", "Deployment")
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert all(":" in i and not i.endswith(":latest") for i in images), images
    assert "ghcr.io/oracle/cloud-provider-oci:v1.31.1" in images


def test_the_csi_node_plugin_can_attach_iscsi_volumes(rendered: dict[str, Any]) -> None:
    """Upstream: oracle/oci-cloud-controller-manager @ v1.31.1 :
    manifests/container-storage-interface/oci-csi-node-driver.yaml (the node plugin sees the host root at
    /host and gets /sbin/iscsiadm from the ConfigMap oci-csi-iscsiadm, a chroot wrapper) and
    pkg/csi/driver/bv_controller.go (attachment-type defaults to iscsi)."""
    cm = _one(rendered["objects"]["addons"], "ConfigMap", "oci-cloud-provider-manifests")
    docs = [d for d in yaml.safe_load_all(cm["data"]["oci-csi.yaml"]) if d]
    default_sc = [d for d in docs if d["kind"] == "StorageClass"
                  and d["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert len(default_sc) == 1
    assert default_sc[0].get("parameters", {}).get("attachment-type", "iscsi") == "iscsi"
    wrapper = _one(docs, "ConfigMap", "oci-csi-iscsiadm")["data"]["iscsiadm"]
    assert wrapper.startswith("#!/bin/sh") and "chroot /host" in wrapper
    pod = _one(docs, "DaemonSet", "csi-oci-node")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    driver = next(c for c in pod["containers"] if c["name"] == "oci-csi-node-driver")
    mounts = {m["mountPath"]: m for m in driver["volumeMounts"]}
    assert volumes[mounts["/host"]["name"]]["hostPath"]["path"] == "/"
    assert mounts["/host"]["mountPropagation"] == "HostToContainer"
    assert volumes[mounts["/sbin/iscsiadm"]["name"]]["configMap"]["name"] == "oci-csi-iscsiadm"
    assert mounts["/sbin/iscsiadm"]["subPath"] == "iscsiadm"
    assert volumes[mounts["/sbin/iscsiadm"]["name"]]["configMap"]["defaultMode"] == 0o755
    assert volumes[mounts["/host/var/lib/kubelet"]["name"]]["hostPath"]["path"] == "/var/lib/kubelet"
    assert mounts["/host/var/lib/kubelet"]["mountPropagation"] == "Bidirectional"
    assert driver["securityContext"]["privileged"] is True


# --- self-managed ---------------------------------------------------------------------------------
def test_self_managed_cluster_is_wired_together(rendered: dict[str, Any]) -> None:
    objs = rendered["objects"]["clusters"]
    ns = "workload-clusters"
    cluster = _one(objs, "Cluster", "wl-test-1", ns)
    labels = cluster["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "multicluster.gitops"
    assert labels["env"] == "test" and labels["region"] == "eu-frankfurt-1"
    assert labels["multicluster.gitops/cni"] == "calico"
    infra = _one(objs, cluster["spec"]["infrastructureRef"]["kind"], cluster["spec"]["infrastructureRef"]["name"], ns)
    assert infra["kind"] == "OCICluster"
    vcn = infra["spec"]["networkSpec"]["vcn"]
    assert (vcn["name"], vcn["cidr"]) == ("wl-test-1", "10.0.0.0/16")
    assert {(s["role"], s["cidr"], s["type"]) for s in vcn["subnets"]} == {
        ("control-plane-endpoint", "10.0.0.8/29", "public"), ("control-plane", "10.0.0.0/29", "private"),
        ("service-lb", "10.0.0.32/27", "public"), ("worker", "10.0.64.0/20", "private")}
    assert infra["spec"]["identityRef"]["kind"] == "OCIClusterIdentity"
    kcp = _one(objs, "KubeadmControlPlane", cluster["spec"]["controlPlaneRef"]["name"], ns)
    assert kcp["spec"]["replicas"] == 3 and kcp["spec"]["version"] == "v1.31.4"
    cp_tmpl = _one(objs, "OCIMachineTemplate", kcp["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"], ns)
    assert cp_tmpl["spec"]["template"]["spec"]["shape"] == "VM.Standard.E5.Flex"
    assert cp_tmpl["spec"]["template"]["spec"]["shapeConfig"] == {"ocpus": "4", "memoryInGBs": "32"}
    kubelet = kcp["spec"]["kubeadmConfigSpec"]["initConfiguration"]["nodeRegistration"]["kubeletExtraArgs"]
    assert {"name": "cloud-provider", "value": "external"} in kubelet
    md = _one(objs, "MachineDeployment", "wl-test-1-md-0", ns)
    assert md["spec"]["replicas"] == 3 and md["spec"]["template"]["spec"]["version"] == "v1.31.4"
    md_tmpl = _one(objs, "OCIMachineTemplate", md["spec"]["template"]["spec"]["infrastructureRef"]["name"], ns)
    assert md_tmpl["spec"]["template"]["spec"]["metadata"]["ssh_authorized_keys"].startswith("ssh-ed25519 ")
    _one(objs, "KubeadmConfigTemplate", md["spec"]["template"]["spec"]["bootstrap"]["configRef"]["name"], ns)
    assert md_tmpl["metadata"]["name"] != cp_tmpl["metadata"]["name"]
    assert all(o["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == "wl-test-1"
               for o in objs if o["metadata"]["namespace"] == ns)


def test_absent_clusters_are_not_rendered(rendered: dict[str, Any]) -> None:
    names = {o["metadata"]["name"] for o in _all(rendered["objects"])}
    assert not any(n.startswith("wl-old") for n in names)


def test_existing_network_skips_network_management(rendered_crs: dict[str, Any]) -> None:
    infra = _one(rendered_crs["objects"]["clusters"], "OCICluster", "wl-test-2")
    net = infra["spec"]["networkSpec"]
    assert net["skipNetworkManagement"] is True and net["vcn"]["id"] == "ocid1.vcn.oc1..test"
    assert {(s["role"], s["id"]) for s in net["vcn"]["subnets"]} == {
        ("control-plane-endpoint", "ocid1.subnet.oc1..cpe"), ("control-plane", "ocid1.subnet.oc1..cp"),
        ("worker", "ocid1.subnet.oc1..wrk"), ("service-lb", "ocid1.subnet.oc1..lb")}
    assert "identityRef" not in infra["spec"]


def _nsg(infra: dict[str, Any], role: str) -> dict[str, Any]:
    found = [n for n in infra["spec"]["networkSpec"]["vcn"]["networkSecurityGroup"]["list"] if n["role"] == role]
    assert len(found) == 1, role
    return found[0]


def _subnet_cidr(infra: dict[str, Any], role: str) -> str:
    return next(s["cidr"] for s in infra["spec"]["networkSpec"]["vcn"]["subnets"] if s["role"] == role)


def _admits(nsg: dict[str, Any], source: str, protocol: str, port: int | None = None) -> bool:
    for r in (x["ingressRule"] for x in nsg["ingressRules"]):
        rng = (r.get("tcpOptions") or {}).get("destinationPortRange")
        if r["source"] == source and r["protocol"] == protocol and (
                port is None or rng is None or rng["min"] <= port <= rng["max"]):
            return True
    return False


def test_a_vcn_cidr_other_than_capocis_default_carries_every_subnet_and_rule(rendered_crs: dict[str, Any]) -> None:
    """Upstream: oracle/cluster-api-provider-oci @ v0.24.0 : api/v1beta2/ocicluster_webhook.go (SubnetSpec and
    NSGSpec fill missing subnets and NSGs with the fixed CIDRs of api/v1beta2/constants.go, 10.0.x): a
    VCN of 10.20.0.0/16 must get subnets and rules inside it, spelled out by the role."""
    infra = _one(rendered_crs["objects"]["clusters"], "OCICluster", "wl-test-3")
    vcn = infra["spec"]["networkSpec"]["vcn"]
    assert vcn["cidr"] == "10.20.0.0/16"
    net = ipaddress.ip_network("10.20.0.0/16")
    assert {s["role"] for s in vcn["subnets"]} == {"control-plane-endpoint", "control-plane", "service-lb", "worker"}
    assert {n["role"] for n in vcn["networkSecurityGroup"]["list"]} == {s["role"] for s in vcn["subnets"]}
    cidrs = [s["cidr"] for s in vcn["subnets"]]
    cidrs += [r["ingressRule"]["source"] for n in vcn["networkSecurityGroup"]["list"] for r in n["ingressRules"]]
    cidrs += [r["egressRule"]["destination"] for n in vcn["networkSecurityGroup"]["list"] for r in n["egressRules"]]
    assert [c for c in cidrs if c != "0.0.0.0/0" and not ipaddress.ip_network(c).subnet_of(net)] == []
    subnets = [ipaddress.ip_network(s["cidr"]) for s in vcn["subnets"]]
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1:])


def test_service_load_balancers_reach_the_node_ports(rendered: dict[str, Any]) -> None:
    """Upstream: oracle/cluster-api-provider-oci @ v0.24.0 : api/v1beta2/ocicluster_webhook.go
    (GetNodeDefaultIngressRules admits NodePorts only from the worker subnet) and
    oracle/oci-cloud-controller-manager @ v1.31.1 : pkg/cloudprovider/providers/oci/load_balancer.go
    (backends health-checked on lbNodesHealthCheckPort, kube-proxy's 10256; with
    securityListManagementMode None the CCM adds no rule)."""
    infra = _one(rendered["objects"]["clusters"], "OCICluster", "wl-test-1")
    lb = _subnet_cidr(infra, "service-lb")
    worker = _nsg(infra, "worker")
    assert _admits(worker, lb, "6", 30000) and _admits(worker, lb, "6", 32767) and _admits(worker, lb, "6", 10256)
    assert not _admits(worker, lb, "6", 6443)


def test_the_ccm_gets_the_load_balancer_subnet_capoci_created(rendered: dict[str, Any]) -> None:
    """Upstream: oracle/oci-cloud-controller-manager @ v1.31.1 : pkg/cloudprovider/providers/oci/config/config_validate.go
    (vcn or loadBalancer.subnet1 required) and pkg/cloudprovider/providers/oci/load_balancer.go (getOciLoadBalancerSubnets:
    "a subnet must be specified"); oracle/cluster-api-provider-oci @ v0.24.0 : cloud/scope/subnet_reconciler.go (the
    OCIDs land in spec.networkSpec.vcn.subnets[].id, NSG OCIDs likewise; re-applied lists must keep them)."""
    cloud = _one(rendered["objects"]["addon_secrets"], "Secret", "wl-test-1-oci-cloud-config")
    inner = next(yaml.safe_load_all(base64.b64decode(cloud["data"]["oci-cloud-config.yaml"]).decode()))
    config = yaml.safe_load(base64.b64decode(inner["data"]["cloud-provider.yaml"]))
    assert config["loadBalancer"]["subnet1"] == "ocid1.subnet.oc1..svclb"
    vcn = _one(rendered["objects"]["clusters"], "OCICluster", "wl-test-1")["spec"]["networkSpec"]["vcn"]
    assert {s["role"]: s.get("id") for s in vcn["subnets"]} == {
        "service-lb": "ocid1.subnet.oc1..svclb", "worker": "ocid1.subnet.oc1..nodes",
        "control-plane": None, "control-plane-endpoint": None}
    assert _nsg({"spec": {"networkSpec": {"vcn": vcn}}}, "worker")["id"] == "ocid1.networksecuritygroup.oc1..nodes"


def test_calico_runs_over_what_capocis_rules_allow(rendered: dict[str, Any]) -> None:
    """Upstream: oracle/cluster-api-provider-oci @ v0.24.0 : api/v1beta2/ocicluster_webhook.go (the default
    rules carry Calico BGP, TCP 179, and IP-in-IP, protocol 4; nothing for VXLAN, UDP 4789): the CAAPH
    Calico installs IP-in-IP with BGP, like the manifest of the ClusterResourceSet path."""
    proxy = _one(rendered["objects"]["addons"], "HelmChartProxy", "calico", "workload-clusters")
    values = yaml.safe_load(proxy["spec"]["valuesTemplate"].replace("{{ index .Cluster.spec.clusterNetwork.pods.cidrBlocks 0 }}", "x"))
    network = values["installation"]["calicoNetwork"]
    assert network["bgp"] == "Enabled"
    assert {p["encapsulation"] for p in network["ipPools"]} == {"IPIP"}
    infra = _one(rendered["objects"]["clusters"], "OCICluster", "wl-test-1")
    for role in ("worker", "control-plane"):
        for peer in ("worker", "control-plane"):
            assert _admits(_nsg(infra, role), _subnet_cidr(infra, peer), "4"), (role, peer)
            assert _admits(_nsg(infra, role), _subnet_cidr(infra, peer), "6", 179), (role, peer)
    assert not any(r["ingressRule"]["protocol"] == "17" for n in infra["spec"]["networkSpec"]["vcn"]["networkSecurityGroup"]["list"]
                   for r in n["ingressRules"])


def _expand(proxy: dict[str, Any], infra: dict[str, Any], cluster: dict[str, Any] | None = None) -> dict[str, Any]:
    """The values CAAPH installs for one cluster: ``spec.valuesTemplate`` of ``proxy`` expanded by Go
    text/template with sprig over {Cluster, InfraCluster} (kubernetes-sigs/cluster-api-addon-provider-helm
    @ v0.6.2 : internal/value_substitutions.go, ParseValues), by the ``caaph-values`` engine binary."""
    require_real_engines("caaph-values")
    data = {"template": proxy["spec"]["valuesTemplate"], "data": {"Cluster": cluster or {}, "InfraCluster": infra}}
    done = subprocess.run([str(binary("caaph-values"))], input=json.dumps(data), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def _reconciled(infra: dict[str, Any]) -> dict[str, Any]:
    """``infra`` once CAPOCI has made its network: every NSG carries the OCID CAPOCI writes back
    (oracle/cluster-api-provider-oci @ v0.24.0 : cloud/scope/nsg_reconciler.go sets spec...list[].id)."""
    done = json.loads(json.dumps(infra))
    for nsg in done["spec"]["networkSpec"]["vcn"]["networkSecurityGroup"]["list"]:
        nsg.setdefault("id", f"ocid1.networksecuritygroup.oc1..{nsg['role']}")
    return done


LB_NSG_ANNOTATION = "oci.oraclecloud.com/oci-network-security-groups"


def test_workload_load_balancers_join_the_service_lb_nsg(rendered: dict[str, Any]) -> None:
    """The ingress-nginx load balancer of a self-managed cluster is placed in the service-lb NSG, whose rules
    open its listeners: the CCM runs with securityListManagementMode None and opens nothing itself.

    Upstream: oracle/oci-cloud-controller-manager @ v1.31.1 : pkg/cloudprovider/providers/oci/load_balancer_spec.go
    (ServiceAnnotationLoadBalancerNetworkSecurityGroups, "oci.oraclecloud.com/oci-network-security-groups", a
    comma-separated list of at most 5 OCIDs, for a load balancer that is not an NLB);
    oracle/cluster-api-provider-oci @ v0.24.0 : api/v1beta2/types.go (NSG role "service-lb", id written back);
    kubernetes-sigs/cluster-api-addon-provider-helm @ v0.6.2 : internal/value_substitutions.go (.InfraCluster)."""
    proxy = _one(rendered["objects"]["addons"], "HelmChartProxy", "ingress-nginx", "workload-clusters")
    infra = _reconciled(_one(rendered["objects"]["clusters"], "OCICluster", "wl-test-1"))
    annotations = _expand(proxy, infra)["controller"]["service"]["annotations"]
    lb_nsg = _nsg(infra, "service-lb")
    assert annotations[LB_NSG_ANNOTATION] == lb_nsg["id"]
    assert annotations["service.beta.kubernetes.io/oci-load-balancer-shape"] == "flexible"
    assert _admits(lb_nsg, "0.0.0.0/0", "6", 80) and _admits(lb_nsg, "0.0.0.0/0", "6", 443)
    worker = _subnet_cidr(infra, "worker")
    egress = [r["egressRule"] for r in lb_nsg["egressRules"]]
    assert any(r["destination"] == worker and r["tcpOptions"]["destinationPortRange"] == {"min": 30000, "max": 32767}
               for r in egress)


@pytest.mark.parametrize("case", ["before-capoci-made-the-nsgs", "existing-vcn", "no-network-spec"])
def test_no_nsg_annotation_without_a_service_lb_nsg_ocid(rendered: dict[str, Any], case: str) -> None:
    """Without a service-lb NSG OCID (CAPOCI has not made it yet, the VCN is the user's, an OKE cluster's
    OCIManagedCluster) the values carry no NSG annotation: an empty one makes the CCM refuse the Service
    (oracle/oci-cloud-controller-manager @ v1.31.1 : pkg/cloudprovider/providers/oci/load_balancer_spec.go,
    "invalid NetworkSecurityGroups OCID")."""
    proxy = _one(rendered["objects"]["addons"], "HelmChartProxy", "ingress-nginx", "workload-clusters")
    infra = {"before-capoci-made-the-nsgs": _one(rendered["objects"]["clusters"], "OCICluster", "wl-test-1"),
             "existing-vcn": _one(rendered["objects"]["clusters"], "OCIManagedCluster"),
             "no-network-spec": {"spec": {}}}[case]
    annotations = _expand(proxy, infra)["controller"]["service"]["annotations"]
    assert LB_NSG_ANNOTATION not in annotations
    assert annotations["service.beta.kubernetes.io/oci-load-balancer-shape"] == "flexible"


def test_calico_values_expand_with_the_clusters_pod_cidr(rendered: dict[str, Any]) -> None:
    """Upstream: kubernetes-sigs/cluster-api-addon-provider-helm @ v0.6.2 : internal/value_substitutions.go
    (.Cluster is the CAPI Cluster as an unstructured map)."""
    proxy = _one(rendered["objects"]["addons"], "HelmChartProxy", "calico", "workload-clusters")
    cluster = {"spec": {"clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}}}}
    values = _expand(proxy, _one(rendered["objects"]["clusters"], "OCICluster", "wl-test-1"), cluster)
    assert values["installation"]["calicoNetwork"]["ipPools"] == [{"cidr": "192.168.0.0/16", "encapsulation": "IPIP"}]


# --- OKE ----------------------------------------------------------------------------------------------
def test_oke_cluster_is_wired_together(rendered: dict[str, Any]) -> None:
    objs = rendered["objects"]["clusters"]
    ns = "prod-clusters"
    cluster = _one(objs, "Cluster", "wl-prod-1", ns)
    assert "multicluster.gitops/cni" not in cluster["metadata"]["labels"]
    assert cluster["metadata"]["labels"]["team"] == "payments"
    infra = _one(objs, "OCIManagedCluster", cluster["spec"]["infrastructureRef"]["name"], ns)
    assert infra["spec"]["networkSpec"]["skipNetworkManagement"] is True
    assert cluster["spec"]["controlPlaneRef"]["kind"] == "OCIManagedControlPlane"
    cp = _one(objs, "OCIManagedControlPlane", cluster["spec"]["controlPlaneRef"]["name"], ns)
    assert cp["spec"]["version"] == "v1.31.1"                       # "1.31.1" normalised
    assert cp["spec"]["clusterPodNetworkOptions"] == [{"cniType": "OCI_VCN_IP_NATIVE"}]
    mp = _one(objs, "MachinePool", "wl-prod-1-pool-0", ns)
    assert mp["spec"]["replicas"] == 5
    pool = _one(objs, "OCIManagedMachinePool", mp["spec"]["template"]["spec"]["infrastructureRef"]["name"], ns)
    assert pool["spec"]["nodeShape"] == "VM.Standard.E4.Flex"
    assert pool["spec"]["nodeShapeConfig"] == {"ocpus": "4", "memoryInGBs": "64"}
    assert pool["spec"]["nodeSourceViaImage"]["imageId"] == "ocid1.image.oc1..okenode"
    assert not _find(objs, "KubeadmControlPlane", namespace=ns)


def test_oke_subnet_types_reach_capoci_and_a_private_endpoint_is_named(
        rendered: dict[str, Any], rendered_crs: dict[str, Any]) -> None:
    """Upstream: oracle/cluster-api-provider-oci @ v0.24.0 : cloud/scope/managed_control_plane.go
    (IsControlPlaneEndpointSubnetPublic: a public IP only when the control-plane-endpoint subnet has type
    public; api/v1beta2/types.go spells the types public/private)."""
    infra = _one(rendered_crs["objects"]["clusters"], "OCIManagedCluster", "wl-prod-2")
    types = {s["role"]: s.get("type") for s in infra["spec"]["networkSpec"]["vcn"]["subnets"]}
    assert types == {"control-plane-endpoint": "public", "worker": "private", "service-lb": None, "pod": None}
    untyped = _one(rendered["objects"]["clusters"], "OCIManagedCluster", "wl-prod-1")
    assert all("type" not in s for s in untyped["spec"]["networkSpec"]["vcn"]["subnets"])
    output = " ".join(rendered["output"].split())          # the callback folds long messages
    assert "WARNING: capi_workloads_clusters entry prod-clusters/wl-prod-1 (oke) gets a private API endpoint" in output
    assert "control_plane_endpoint: {id: <subnet OCID>, type: Public}" in output
    assert "entry prod-clusters/wl-prod-2 (oke) gets a private" not in output


# --- providers, identity, secrets -----------------------------------------------------------------------
def test_providers_are_pinned_in_their_own_namespaces(rendered: dict[str, Any], rendered_crs: dict[str, Any]) -> None:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    objs = rendered["objects"]["providers"]
    assert _one(objs, "CoreProvider", "cluster-api")["spec"]["version"] == defaults["capi_workloads_capi_version"]
    oci = _one(objs, "InfrastructureProvider", "oci")
    assert oci["spec"]["version"] == defaults["capi_workloads_capoci_version"]
    assert oci["spec"]["configSecret"]["name"] == "capoci-variables"
    assert _one(objs, "AddonProvider", "helm")["spec"]["version"] == defaults["capi_workloads_caaph_version"]
    namespaces = [o["metadata"]["namespace"] for o in objs if o["kind"] != "Namespace"]
    assert len(namespaces) == len(set(namespaces)) == 5
    assert not _find(rendered_crs["objects"]["providers"], "AddonProvider")


def test_user_principal_lands_only_in_secrets(rendered: dict[str, Any]) -> None:
    objs = rendered["objects"]
    principal = _one(objs["secrets"], "Secret", "capoci-user-principal-credentials")
    decoded = {k: base64.b64decode(v).decode() for k, v in principal["data"].items()}
    assert decoded == CREDENTIALS
    identity = _one(objs["identity"], "OCIClusterIdentity")
    assert identity["spec"]["principalSecret"]["name"] == principal["metadata"]["name"]
    assert identity["spec"]["allowedNamespaces"]["list"] == ["prod-clusters", "workload-clusters"]
    cloud = _one(objs["addon_secrets"], "Secret", "wl-test-1-oci-cloud-config")
    assert cloud["type"] == "addons.cluster.x-k8s.io/resource-set"
    inner = list(yaml.safe_load_all(base64.b64decode(cloud["data"]["oci-cloud-config.yaml"]).decode()))
    assert {d["metadata"]["name"] for d in inner} == {"oci-cloud-controller-manager", "oci-volume-provisioner"}
    config = yaml.safe_load(base64.b64decode(inner[0]["data"]["cloud-provider.yaml"]))
    assert config["auth"]["tenancy"] == CREDENTIALS["tenancy"] and config["useInstancePrincipals"] is False
    not_secret = json.dumps({k: v for k, v in objs.items() if k not in ("secrets", "addon_secrets")})
    for value in (KEY_MATERIAL, PASSPHRASE, base64.b64encode(PASSPHRASE.encode()).decode()):
        assert value not in not_secret
    assert KEY_MATERIAL not in rendered["output"] and PASSPHRASE not in rendered["output"]


def test_instance_principal_goes_through_the_provider_variables(rendered_crs: dict[str, Any]) -> None:
    objs = rendered_crs["objects"]
    assert objs["identity"] == []
    variables = _one(objs["secrets"], "Secret", "capoci-variables")["data"]
    assert base64.b64decode(base64.b64decode(variables["USE_INSTANCE_PRINCIPAL_B64"])).decode() == "true"
    assert base64.b64decode(variables["EXP_OKE"]).decode() == "true"
    assert "OCI_CREDENTIALS_KEY_B64" not in variables
    assert len(_find(objs["secrets"], "Secret")) == 1
    cloud = _one(objs["addon_secrets"], "Secret", "wl-test-2-oci-cloud-config")
    inner = next(yaml.safe_load_all(base64.b64decode(cloud["data"]["oci-cloud-config.yaml"]).decode()))
    config = yaml.safe_load(base64.b64decode(inner["data"]["cloud-provider.yaml"]))
    assert config["useInstancePrincipals"] is True and "auth" not in config
    assert config["vcn"] == "ocid1.vcn.oc1..test" and config["loadBalancer"]["subnet1"] == "ocid1.subnet.oc1..lb"


def test_capoci_builds_its_clients_at_start_only_in_provider_mode(rendered: dict[str, Any],
                                                                  rendered_crs: dict[str, Any]) -> None:
    """Upstream: oracle/cluster-api-provider-oci @ v0.24.0 : main.go (clients only built when
    --init-oci-clients-on-startup, config/manager/manager.yaml maps it to INIT_OCI_CLIENTS_ON_STARTUP) and
    cloud/util/util.go (an OCICluster without identityRef uses those clients, or fails with "OCI
    authentication credentials could not be retrieved"); docs/src/gs/advanced.md: false only with a
    cluster identity."""
    def init(objs: dict[str, Any]) -> str:
        data = _one(objs["secrets"], "Secret", "capoci-variables")["data"]
        return base64.b64decode(data["INIT_OCI_CLIENTS_ON_STARTUP"]).decode()
    # B: capi_workloads_oci_identity: provider, no identityRef on the OCIClusters
    assert "identityRef" not in _one(rendered_crs["objects"]["clusters"], "OCICluster", "wl-test-2")["spec"]
    assert init(rendered_crs["objects"]) == "true"
    # A: cluster_identity, every OCICluster references the OCIClusterIdentity
    assert _one(rendered["objects"]["clusters"], "OCICluster", "wl-test-1")["spec"]["identityRef"]
    assert init(rendered["objects"]) == "false"


# --- add-ons ----------------------------------------------------------------------------------------------
def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_caaph_addons_select_the_right_clusters(rendered: dict[str, Any]) -> None:
    objs = rendered["objects"]
    clusters = _find(objs["clusters"], "Cluster")
    for proxy in _find(objs["addons"], "HelmChartProxy"):
        selected = {c["metadata"]["name"] for c in clusters
                    if c["metadata"]["namespace"] == proxy["metadata"]["namespace"]
                    and _selects(proxy["spec"]["clusterSelector"], c["metadata"]["labels"])}
        expected = {"calico": {"wl-test-1"}, "ingress-nginx": {"wl-test-1"}} \
            if proxy["metadata"]["namespace"] == "workload-clusters" else {"ingress-nginx": {"wl-prod-1"}}
        assert selected == expected[proxy["metadata"]["name"]], proxy["metadata"]
        assert proxy["spec"]["version"]
    assert {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in _find(objs["addons"], "HelmChartProxy")} == {
        ("workload-clusters", "calico"), ("workload-clusters", "ingress-nginx"), ("prod-clusters", "ingress-nginx")}


@pytest.mark.parametrize("variant", ["rendered", "rendered_crs"])
def test_cluster_resource_sets_reference_rendered_resources(variant: str, request: pytest.FixtureRequest) -> None:
    objs = request.getfixturevalue(variant)["objects"]
    everything = _all(objs)
    crs = _find(everything, "ClusterResourceSet")
    assert crs
    for c in crs:
        for res in c["spec"]["resources"]:
            _one(everything, res["kind"], res["name"], c["metadata"]["namespace"])


def test_without_caaph_the_manifests_go_into_cluster_resource_sets(rendered_crs: dict[str, Any]) -> None:
    objs = rendered_crs["objects"]["addons"]
    assert not _find(objs, "HelmChartProxy")
    assert _one(objs, "ConfigMap", "calico-manifests", "workload-clusters")["data"]["calico.yaml"] == rendered_crs["calico"]
    assert _one(objs, "ClusterResourceSet", "ingress-nginx", "prod-clusters")
    assert not _find(objs, "ClusterResourceSet", "calico", "prod-clusters")   # OKE brings its own CNI


# --- preflight ----------------------------------------------------------------------------------------------
PREFLIGHT_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("valid", {}, ""),
    ("in-memory-needs-no-oci-keys", {"capi_workloads_infrastructure": "in_memory", "capi_workloads_oci_credentials": {},
                                     "capi_workloads_oci_compartment_id": "", "capi_workloads_clusters": [IN_MEMORY]}, ""),
    ("in-memory-oke", {"capi_workloads_infrastructure": "in_memory", "capi_workloads_clusters": [OKE]},
     "capi_workloads_clusters[0] (wl-prod-1).kind is 'oke', but capi_workloads_infrastructure: in_memory makes kubeadm "
     "clusters only"),
    ("unknown-infrastructure", {"capi_workloads_infrastructure": "aws"},
     "capi_workloads_infrastructure must be one of oci, in_memory, not 'aws'"),
    ("unknown-kind", {"capi_workloads_clusters": [{**SELF_MANAGED, "kind": "eks"}]},
     "capi_workloads_clusters[0] (wl-test-1).kind must be one of self-managed, oke"),
    ("missing-shape", {"capi_workloads_clusters": [{**SELF_MANAGED, "workers": {"shape": ""}}]},
     "capi_workloads_clusters[0] (wl-test-1).workers.shape is missing"),
    ("zero-nodes", {"capi_workloads_clusters": [{**OKE, "workers": {"count": 0}}]},
     "capi_workloads_clusters[0] (wl-prod-1).workers.count must be an integer of at least 1"),
    ("even-control-plane", {"capi_workloads_clusters": [{**SELF_MANAGED, "control_plane": {"count": 2}}]},
     ".control_plane.count must be odd"),
    ("duplicate-names", {"capi_workloads_clusters": [SELF_MANAGED, {**OKE, "name": "wl-test-1"}]},
     "capi_workloads_clusters[1] (wl-test-1).name is a duplicate of capi_workloads_clusters[0]"),
    ("bad-version", {"capi_workloads_clusters": [{**SELF_MANAGED, "kubernetes_version": "1.31"}]},
     ".kubernetes_version '1.31' is not a Kubernetes version"),
    ("bad-name", {"capi_workloads_clusters": [{**SELF_MANAGED, "name": "Prod_1"}]},
     "capi_workloads_clusters[0] (Prod_1).name must be a lowercase DNS label"),
    ("missing-image", {"capi_workloads_clusters": [{k: v for k, v in SELF_MANAGED.items() if k != "image_id"}]},
     ".image_id must be the OCID of a node image"),
    ("bad-env", {"capi_workloads_clusters": [{**SELF_MANAGED, "labels": {"env": "qa"}}]},
     ".labels.env must be one of test, prod"),
    ("reserved-label", {"capi_workloads_clusters": [{**SELF_MANAGED, "labels": {"env": "test", "cluster.x-k8s.io/x": "y"}}]},
     ".labels.cluster.x-k8s.io/x is reserved"),
    ("bad-state", {"capi_workloads_clusters": [{**SELF_MANAGED, "state": "gone"}]},
     ".state must be present or absent"),
    ("missing-subnet", {"capi_workloads_clusters": [{**OKE, "network": {
        "vcn_id": "ocid1.vcn.oc1..x", "subnets": {"worker": "ocid1.subnet.oc1..w"}}}]},
     ".network.subnets.control_plane_endpoint must be a subnet OCID"),
    ("bad-cidr", {"capi_workloads_clusters": [{**SELF_MANAGED, "network": {"vcn_cidr": "10.0.0.0"}}]},
     ".network.vcn_cidr '10.0.0.0' is not a CIDR"),
    ("vcn-not-a-16", {"capi_workloads_clusters": [{**SELF_MANAGED, "network": {"vcn_cidr": "10.0.0.0/20"}}]},
     ".network.vcn_cidr '10.0.0.0/20' must be a /16 like 10.1.0.0/16"),
    ("oke-vcn-not-capoci-default", {"capi_workloads_clusters": [{**OKE, "network": {"vcn_cidr": "10.1.0.0/16"}}]},
     ".network.vcn_cidr '10.1.0.0/16' must be 10.0.0.0/16 for an OKE cluster in a VCN CAPOCI creates"),
    ("other-16-vcn", {"capi_workloads_clusters": [{**SELF_MANAGED, "network": {"vcn_cidr": "172.16.0.0/16"}}]}, ""),
    ("subnet-type", {"capi_workloads_clusters": [{**OKE, "network": {**OKE["network"], "subnets": {
        **OKE["network"]["subnets"], "control_plane_endpoint": {"id": "ocid1.subnet.oc1..cpe", "type": "Internet"}}}}]},
     ".network.subnets.control_plane_endpoint.type must be Public or Private, not 'Internet'"),
    ("subnet-mapping-without-id", {"capi_workloads_clusters": [{**OKE, "network": {**OKE["network"], "subnets": {
        **OKE["network"]["subnets"], "worker": {"type": "Private"}}}}]},
     ".network.subnets.worker must be a subnet OCID"),
    ("subnet-mappings", {"capi_workloads_clusters": [OKE_PUBLIC]}, ""),
    ("no-compartment", {"capi_workloads_oci_compartment_id": ""},
     ".compartment_id (or capi_workloads_oci_compartment_id) must be a compartment OCID"),
    ("missing-credential", {"capi_workloads_oci_credentials": {**CREDENTIALS, "fingerprint": ""}},
     "capi_workloads_oci_credentials.fingerprint is required"),
    ("instance-principal-identity", {"capi_workloads_oci_auth": "instance_principal"},
     "capi_workloads_oci_identity: an OCIClusterIdentity only holds a user principal"),
    ("not-a-list", {"capi_workloads_clusters": {"name": "x"}}, "capi_workloads_clusters must be a list"),
    ("absent-needs-only-a-name", {"capi_workloads_clusters": [{"name": "wl-old", "state": "absent"}]}, ""),
    # Unknown keys, at every level, are rejected rather than ignored.
    ("unknown-cluster-key", {"capi_workloads_clusters": [{**SELF_MANAGED, "worker": {"count": 5}}]},
     "capi_workloads_clusters[0] (wl-test-1) has an unknown key 'worker' (did you mean 'workers'?); allowed keys: "
     "compartment_id, control_plane, image_id, kind, kubernetes_version, labels, name, namespace, network, oke_cluster_type, "
     "oke_cni, pod_cidr, service_cidr, ssh_public_key, state, workers"),
    ("unknown-key-of-absent-entry", {"capi_workloads_clusters": [{"name": "wl-old", "sate": "absent"}]},
     "capi_workloads_clusters[0] (wl-old) has an unknown key 'sate' (did you mean 'state'?)"),
    ("unknown-pool-key", {"capi_workloads_clusters": [{**SELF_MANAGED, "control_plane": {"count": 3, "cpus": 4}}]},
     "capi_workloads_clusters[0] (wl-test-1).control_plane has an unknown key 'cpus' (did you mean 'ocpus'?); "
     "allowed keys: boot_volume_gbs, count, memory_gbs, ocpus, shape"),
    ("unknown-network-key", {"capi_workloads_clusters": [{**SELF_MANAGED, "network": {"vcn_cidr": "10.0.0.0/16", "cidr": "x"}}]},
     "capi_workloads_clusters[0] (wl-test-1).network has an unknown key 'cidr' (did you mean 'vcn_cidr'?); allowed keys: subnets, vcn_cidr, vcn_id"),
    ("unknown-subnet-key", {"capi_workloads_clusters": [{**OKE, "network": {**OKE["network"], "subnets": {
        **OKE["network"]["subnets"], "worker": {"id": "ocid1.subnet.oc1..wrk", "typ": "Public"}}}}]},
     "capi_workloads_clusters[0] (wl-prod-1).network.subnets.worker has an unknown key 'typ' (did you mean 'type'?)"),
    ("unknown-defaults-key", {"capi_workloads_cluster_defaults": {
        "kind": "self-managed", "state": "present", "kubernetes_version": "v1.31.4",
        "network": {"vcn_cidr": "10.0.0.0/16"}, "pod_cidr": "192.168.0.0/16", "service_cidr": "10.128.0.0/12",
        "oke_cluster_type": "ENHANCED_CLUSTER", "oke_cni": "flannel", "labels": {}, "worker_count": 3}},
     "capi_workloads_cluster_defaults has an unknown key 'worker_count'"),
    # Label keys and values as the API server checks them (kubernetes/apimachinery IsQualifiedName, IsValidLabelValue).
    ("bad-label-key", {"capi_workloads_clusters": [{**SELF_MANAGED, "labels": {"env": "test", "Bad Key!": "x"}}]},
     "capi_workloads_clusters[0] (wl-test-1).labels: label key 'Bad Key!' has an invalid name"),
    ("bad-label-prefix", {"capi_workloads_clusters": [{**SELF_MANAGED, "labels": {"env": "test", "Team.io/owner": "x"}}]},
     "capi_workloads_clusters[0] (wl-test-1).labels: label key 'Team.io/owner' has an invalid prefix"),
    ("long-label-value", {"capi_workloads_clusters": [{**SELF_MANAGED, "labels": {"env": "test", "team": "x" * 64}}]},
     "capi_workloads_clusters[0] (wl-test-1).labels: label team has an invalid value"),
    ("label-value-not-a-string", {"capi_workloads_clusters": [{**SELF_MANAGED, "labels": {"env": "test", "tier": 1}}]},
     "capi_workloads_clusters[0] (wl-test-1).labels: label tier has a number value 1; label values are strings (quote it)"),
    ("prefixed-label", {"capi_workloads_clusters": [{**SELF_MANAGED, "labels": {"env": "test", "example.com/team": "a.b_c"}}]}, ""),
]


@pytest.fixture(scope="session")
def preflight_outcomes(capi_outputs: dict[str, Any]) -> dict[str, Any]:
    assert KEY_MATERIAL not in capi_outputs["output"] and PASSPHRASE not in capi_outputs["output"]
    return capi_outputs["preflight"]


@pytest.mark.parametrize(("case", "expected"), [(case[0], case[2]) for case in PREFLIGHT_CASES], ids=[c[0] for c in PREFLIGHT_CASES])
def test_preflight_errors(case: str, expected: str, preflight_outcomes: dict[str, Any]) -> None:
    errors = preflight_outcomes["cases"][case]
    if expected:
        assert any(expected in e for e in errors), errors
    else:
        assert errors == []


def test_preflight_fails_the_role_before_anything_changes(preflight_outcomes: dict[str, Any]) -> None:
    message = preflight_outcomes["role"]
    assert message.startswith("capi_workloads: fix these variables before anything changes: ")
    assert "capi_workloads_clusters[1] (wl-prod-1).kind must be one of self-managed, oke, not 'eks'" in message
    assert "wl-test-1" not in message          # the valid entry is not blamed


# --- in-memory infrastructure ----------------------------------------------------------------------------------
def test_in_memory_renders_capd_dev_kinds_wired_to_kcp_and_machine_deployment(capi_outputs: dict[str, Any]) -> None:
    """capi_workloads_infrastructure: in_memory renders a kubeadm cluster on CAPD's in-memory backend and nothing else.

    Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : test/infrastructure/docker/api/v1beta2/devcluster_types.go,
    test/infrastructure/docker/api/v1beta2/devmachine_types.go (spec.backend.inMemory, provisioning durations),
    test/infrastructure/docker/internal/controllers/backends/inmemory/inmemorycluster_backend.go (a DevCluster
    needs an annotations map). Accepted and provisioned by the real managers in
    tests/engines/test_site_engines.py."""
    out = capi_outputs["m"]
    assert {k: v for k, v in out.items() if k != "clusters"} == {
        "providers": [], "secrets": [], "identity": [], "addon_secrets": [], "addons": []}
    objs = out["clusters"]
    assert sorted(o["kind"] for o in objs) == sorted(["Cluster", "DevCluster", "DevMachineTemplate", "DevMachineTemplate",
                                                      "KubeadmControlPlane", "KubeadmConfigTemplate",
                                                      "MachineDeployment"])
    cluster = _one(objs, "Cluster", "mem-1")
    assert cluster["spec"]["infrastructureRef"] == {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DevCluster",
                                                    "name": "mem-1"}
    assert cluster["metadata"]["labels"]["env"] == "test"
    assert cluster["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "multicluster.gitops"
    dev = _one(objs, "DevCluster", "mem-1")
    assert dev["spec"] == {"backend": {"inMemory": {}}} and dev["metadata"]["annotations"]
    kcp = _one(objs, "KubeadmControlPlane", cluster["spec"]["controlPlaneRef"]["name"])
    assert (kcp["spec"]["replicas"], kcp["spec"]["version"]) == (1, "v1.34.2")
    md = _one(objs, "MachineDeployment", "mem-1-md-0")
    assert md["spec"]["replicas"] == 2
    templates = {o["metadata"]["name"]: o for o in _find(objs, "DevMachineTemplate")}
    for ref in (kcp["spec"]["machineTemplate"]["spec"]["infrastructureRef"], md["spec"]["template"]["spec"]["infrastructureRef"]):
        assert ref["kind"] == "DevMachineTemplate" and ref["name"] in templates
        backend = templates[ref["name"]]["spec"]["template"]["spec"]["backend"]["inMemory"]
        assert set(backend) == {"vm", "node", "apiServer", "etcd"}
        assert all(step["provisioning"]["startupDuration"] == "1s" for step in backend.values())
    bootstrap = md["spec"]["template"]["spec"]["bootstrap"]["configRef"]
    assert _one(objs, "KubeadmConfigTemplate", bootstrap["name"])
    assert not [o for o in objs if o["kind"].startswith("OCI")]


def test_the_oci_default_renders_no_in_memory_kinds(rendered: dict[str, Any]) -> None:
    assert not [o for o in _all(rendered["objects"]) if o["kind"].startswith("Dev")]


# --- role metadata ---------------------------------------------------------------------------------------------
def test_argument_specs_match_defaults() -> None:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults)
    for name, spec in options.items():
        assert spec.get("description"), f"{name} has no description"
        assert spec.get("default") == defaults[name], name
