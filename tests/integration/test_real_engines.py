"""The Molecule `kind` scenario: real engines (kind + Cluster API Docker provider, Argo CD, Kyverno).

`test_kind_scenario` runs `molecule test -s kind` where a Docker engine answers and kind and helm are
on PATH, and skips naming exactly what is missing otherwise. `test_kind_scenario_files` runs
everywhere, so the scenario cannot rot unnoticed: its files parse, converge imports site.yml, its
playbooks pass `--syntax-check`, its variables pass every role's argument spec and preflight, and
the CAPD manifest is consistent and valid against the real Cluster API CRDs.
"""
from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CRD_DIR
from tests.helpers.ansible import ROOT, isolated_env, run_playbook

SCENARIO = ROOT / "molecule" / "kind"
PLAYBOOKS = ("create.yml", "prepare.yml", "converge.yml", "verify.yml", "destroy.yml")
CAPI_GROUPS = ("cluster.x-k8s.io", "controlplane.cluster.x-k8s.io", "bootstrap.cluster.x-k8s.io",
               "addons.cluster.x-k8s.io")
PREFLIGHT_TAGS = ",".join(f"{role}_preflight" for role in (
    "oke_mgmt", "ingress_tls", "argocd", "capi_workloads", "kyverno_policies", "appsets"))

pytestmark = pytest.mark.real_engine


def missing_engines() -> list[str]:
    """What the kind scenario needs and this machine lacks, in words (empty when all is there)."""
    missing = []
    if shutil.which("docker") is None:
        missing.append("no Docker engine (no docker CLI on PATH)")
    else:
        try:
            proc = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, check=False)
            if proc.returncode != 0:
                detail = (proc.stderr or proc.stdout).strip().splitlines()
                missing.append(f"no Docker engine (docker info: {detail[-1] if detail else f'exit {proc.returncode}'})")
        except subprocess.TimeoutExpired:
            missing.append("no Docker engine (docker info did not answer within 30 s)")
    for tool in ("kind", "helm"):
        if shutil.which(tool) is None:
            missing.append(f"no {tool} binary")
    return missing


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def scenario_vars() -> dict[str, Any]:
    return load_yaml(SCENARIO / "host_vars" / "localhost.yml")


def capd_objects() -> list[dict[str, Any]]:
    return yaml.safe_load((SCENARIO / "files" / "capd-clusters.yaml").read_text())


def linked_inventory(tmp_path: Path) -> Path:
    """The inventory Molecule builds for the scenario: the links of molecule.yml, resolved from the scenario."""
    links = load_yaml(SCENARIO / "molecule.yml")["provisioner"]["inventory"]["links"]
    inv = tmp_path / "inventory"
    inv.mkdir()
    for name, source in links.items():
        target = (SCENARIO / source).resolve()
        assert target.exists(), f"molecule.yml links {name} to {source}, which does not exist"
        (inv / name).symlink_to(target)
    return inv


@pytest.mark.slow
def test_kind_scenario(tmp_path: Path) -> None:
    missing = missing_engines()
    if missing:
        pytest.skip("kind scenario not run: " + ", ".join(missing))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run([str(Path(sys.executable).parent / "molecule"), "test", "-s", "kind"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=4 * 3600, check=False)
    out = proc.stdout + proc.stderr
    (tmp_path / "molecule-kind.log").write_text(out)
    assert proc.returncode == 0, f"molecule test -s kind failed (rc {proc.returncode}):\n{out[-6000:]}"


def test_missing_engines_names_each_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    assert missing_engines() == ["no Docker engine (no docker CLI on PATH)", "no kind binary", "no helm binary"]


def test_kind_scenario_files(tmp_path: Path, kube_hub_kubeconfig: Path) -> None:
    # Every file parses; the sequence is the full real-engine one.
    for path in sorted(SCENARIO.rglob("*.y*ml")):
        list(yaml.safe_load_all(path.read_text()))
    molecule = load_yaml(SCENARIO / "molecule.yml")
    sequence = molecule["scenario"]["test_sequence"]
    for step in ("create", "prepare", "converge", "idempotence", "check", "verify", "destroy"):
        assert step in sequence, f"molecule.yml's test_sequence lacks {step}"
    assert sequence.index("prepare") < sequence.index("converge") < sequence.index("idempotence") < sequence.index("verify")
    assert molecule["driver"]["options"]["managed"] is True, "create.yml/destroy.yml only run with a managed driver"
    assert molecule["provisioner"]["inventory"]["links"]["hosts"] == "../../inventories/local/hosts.yml"

    # converge is exactly the user's site.yml.
    converge = load_yaml(SCENARIO / "converge.yml")
    assert len(converge) == 1
    assert (SCENARIO / converge[0]["ansible.builtin.import_playbook"]).resolve() == ROOT / "site.yml"

    inv = linked_inventory(tmp_path)
    env = {"KUBECONFIG": str(kube_hub_kubeconfig), "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "ephemeral")}
    (tmp_path / "ephemeral").mkdir()

    # Every playbook of the scenario passes --syntax-check on that inventory.
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inv), "--syntax-check",
           *(str(SCENARIO / p) for p in PLAYBOOKS)]
    proc = subprocess.run(cmd, cwd=ROOT, env=isolated_env(tmp_path, env), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # The scenario's variables (inventories/local + host_vars) pass every role's argument spec and preflight.
    result = run_playbook(tmp_path, "site.yml", inventory=inv, tags=PREFLIGHT_TAGS, env=env)
    assert result.rc == 0, result.stdout[-4000:]
    assert result.failed() == 0
    assert "Validating arguments against arg spec" in result.stdout


def test_kind_scenario_variables_resolve(tmp_path: Path) -> None:
    """host_vars win over inventories/local, and the hub is the scenario's kind kubeconfig."""
    inv = linked_inventory(tmp_path)
    ephemeral = tmp_path / "ephemeral"
    ephemeral.mkdir()
    names = ["mcg_hub_kubeconfig", "mcg_helm_enabled", "oke_mgmt_enabled", "mcg_summary_dir", "argocd_hostname",
             "argocd_cluster_issuer", "ingress_tls_hostnames", "capi_workloads_clusters"]
    playbook = (
        "- hosts: hub\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.copy:\n"
        f"        dest: {tmp_path / 'vars.json'}\n"
        "        content: \"{{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}\"\n"
        "        mode: '0600'\n"
    )
    kubeconfig = ephemeral / "kind.kubeconfig"
    result = run_playbook(tmp_path, playbook, inventory=inv,
                          env={"KUBECONFIG": str(kubeconfig), "MOLECULE_EPHEMERAL_DIRECTORY": str(ephemeral)})
    assert result.rc == 0, result.stdout[-3000:]
    resolved = json.loads((tmp_path / "vars.json").read_text())
    assert resolved["mcg_hub_kubeconfig"] == str(kubeconfig)
    assert resolved["mcg_helm_enabled"] is True
    assert resolved["oke_mgmt_enabled"] is False
    assert resolved["mcg_summary_dir"] == f"{ephemeral}/platform-summary"
    assert resolved["argocd_hostname"] in resolved["ingress_tls_hostnames"]
    assert resolved["argocd_hostname"].endswith(".127.0.0.1.nip.io")
    assert resolved["argocd_cluster_issuer"] == "letsencrypt-staging"
    assert resolved["capi_workloads_clusters"] == []


def test_capd_manifest_is_consistent() -> None:
    objects = capd_objects()
    by_ref = {(o["kind"], o["metadata"]["name"]) for o in objects}
    clusters = [o for o in objects if o["kind"] == "Cluster"]
    variables = scenario_vars()
    assert sorted(c["metadata"]["name"] for c in clusters) == sorted(variables["mcg_kind_clusters"])
    environments = load_yaml(ROOT / "roles" / "capi_workloads" / "defaults" / "main.yml")["capi_workloads_environments"]
    crs = next(o for o in objects if o["kind"] == "ClusterResourceSet")
    for cluster in clusters:
        labels = cluster["metadata"]["labels"]
        # The wait, the Argo CD registration and the ApplicationSets select on this label.
        assert labels["app.kubernetes.io/managed-by"] == "multicluster.gitops"
        assert labels["env"] in environments
        assert all(labels.get(k) == v for k, v in crs["spec"]["clusterSelector"]["matchLabels"].items()), \
            f"{cluster['metadata']['name']} would get no CNI"
        assert cluster["metadata"]["namespace"] == variables["mcg_kind_cluster_namespace"]
        for ref in ("infrastructureRef", "controlPlaneRef"):
            target = cluster["spec"][ref]
            assert (target["kind"], target["name"]) in by_ref, f"{cluster['metadata']['name']}.{ref} names a missing object"
    for kcp in (o for o in objects if o["kind"] == "KubeadmControlPlane"):
        assert ("DockerMachineTemplate", kcp["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"]) in by_ref
    for md in (o for o in objects if o["kind"] == "MachineDeployment"):
        spec = md["spec"]["template"]["spec"]
        assert ("KubeadmConfigTemplate", spec["bootstrap"]["configRef"]["name"]) in by_ref
        assert ("DockerMachineTemplate", spec["infrastructureRef"]["name"]) in by_ref
        kcp = next(o for o in objects if o["kind"] == "KubeadmControlPlane"
                   and o["metadata"]["name"] == f"{md['spec']['clusterName']}-control-plane")
        assert spec["version"] == kcp["spec"]["version"], "workers and control plane must run one Kubernetes version"
    # CAPD runs kindest/node:<version>; the hub's image is of the same kind release.
    node_tag = variables["mcg_kind_node_image"].rsplit(":", 1)[1]
    assert {o["spec"]["version"] for o in objects if o["kind"] == "KubeadmControlPlane"} == {node_tag}


def _dry_run_create(server: Any, obj: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    group, version = obj["apiVersion"].split("/")
    plural = obj["kind"].lower() + "s"
    url = f"{server.url}/apis/{group}/{version}/namespaces/default/{plural}?dryRun=All"
    body = dict(obj, metadata=dict(obj["metadata"], namespace="default"))
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/json"})
    context = ssl.create_default_context(cadata=server.ca_pem.decode())
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_capd_manifest_matches_the_cluster_api_crds(kube_hub: Any) -> None:
    if not CRD_DIR.is_dir():
        pytest.skip(f"the Cluster API CRDs are not at {CRD_DIR} (set MCG_CRD_DIR)")
    capi = [o for o in capd_objects() if o["apiVersion"].split("/")[0] in CAPI_GROUPS]
    kinds = {"Cluster", "KubeadmControlPlane", "KubeadmConfigTemplate", "MachineDeployment", "ClusterResourceSet"}
    assert {o["kind"] for o in capi} == kinds
    for obj in capi:
        status, body = _dry_run_create(kube_hub, obj)
        assert status == 201, f"{obj['kind']} {obj['metadata']['name']}: {body.get('message', body)}"
    # The same check rejects the v1beta1 shape of kubeletExtraArgs (a map), so it does validate.
    kcp = next(o for o in capi if o["kind"] == "KubeadmControlPlane")
    old = json.loads(json.dumps(kcp))
    old["spec"]["kubeadmConfigSpec"]["initConfiguration"]["nodeRegistration"]["kubeletExtraArgs"] = {"eviction-hard": "x"}
    status, body = _dry_run_create(kube_hub, old)
    assert status == 422, body
