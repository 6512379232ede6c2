"""Render every template of the hub roles (ingress_tls, argocd, appsets) with real Ansible templating and validate it:
built-in kinds with kubernetes-validate, CRD kinds against the real CRDs' schemas, Helm values by content; every bad
variable must fail the role's preflight with a message naming it."""
from __future__ import annotations

import base64
import importlib.util
import json
import re
from typing import Any

import bcrypt
import pytest
import yaml

from tests.conftest import CRD_DIR, ROOT
from tests.unit.roles.hub_render import Case, Rendered, render_cases
from tests.unit.roles.hub_schemas import CRD_FILES, crd_validator

kubernetes_validate = pytest.importorskip("kubernetes_validate")

K8S_VERSION = "1.34.0"  # the Kubernetes minor OKE and CAPOCI clusters of this collection run
EMAIL = {"ingress_tls_acme_email": "ops@example.com"}
ARGO = {"argocd_hostname": "argocd.example.com", "argocd_admin_password": "correct-horse-battery",
        "__argocd_admin_password_hash": "$2b$10$abcdefghijklmnopqrstuu5m0ZzLBH4nZ8dWt7uUoW2n1Q8wX0yXa",
        "__argocd_admin_password_mtime": "2026-01-01T00:00:00Z"}
APP = {"name": "web", "repo_url": "https://github.com/example/web.git", "path": "deploy", "namespace": "web"}
ROLLOUT = {"steps": [{"match_labels": {"env": ["test"]}, "max_update": 1},
                     {"match_labels": {"env": ["prod"]}, "max_update": "50%"}]}

GOOD = [
    Case("ingress_defaults", "ingress_tls", {**EMAIL, "ingress_tls_hostnames": ["argocd.example.com"]}),
    Case("ingress_nlb_options", "ingress_tls", {
        **EMAIL, "ingress_tls_preserve_client_ip": True, "ingress_tls_reserved_public_ip": "203.0.113.10",
        "ingress_tls_nlb_nsg_ids": ["ocid1.networksecuritygroup.oc1.eu-frankfurt-1.aaaaaaaa1234"],
        "ingress_tls_nlb_security_list_management_mode": "All"}),
    Case("ingress_dns01", "ingress_tls", {
        **EMAIL, "ingress_tls_acme_solver": "dns01",
        "ingress_tls_dns01_solver": {"webhook": {"groupName": "acme.example.com", "solverName": "oci",
                                                 "config": {"compartmentOCID": "ocid1.compartment.oc1..x"}}}}),
    Case("argocd_defaults", "argocd", ARGO),
    Case("argocd_oidc", "argocd", {
        **ARGO, "argocd_progressive_syncs": True, "argocd_cluster_issuer": "letsencrypt-staging",
        "argocd_oidc": {"name": "Corp", "issuer": "https://login.example.com", "client_id": "argocd",
                        "client_secret": "oidc-secret-value"}}),
    Case("appsets_defaults", "appsets", {}),
    Case("appsets_rollout", "appsets", {
        "argocd_progressive_syncs": True,
        "appsets_applicationsets": [
            {**APP, "rollout": ROLLOUT, "cluster_selector": {
                "matchLabels": {"multicluster.gitops/registered": "true"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["test", "prod"]}]}},
            {"name": "podinfo", "repo_url": "https://stefanprodan.github.io/podinfo", "chart": "podinfo",
             "revision": "6.7.1", "namespace": "podinfo", "helm_values": {"replicaCount": 2},
             "sync_policy": {"automated": False, "sync_options": ["CreateNamespace=true", "ServerSideApply=true"]}},
        ]}),
    Case("appsets_named_destinations", "appsets", {
        "appsets_project_destination_names": ["prod-*", "test-*"],
        "appsets_project_destination_servers": ["https://10.0.0.10:6443"],
        "appsets_project_destination_namespaces": ["web", "guestbook"],
        "appsets_project_destination_service_accounts": [
            {"server": "https://10.0.0.10:6443", "namespace": "web", "defaultServiceAccount": "deployer"}]}),
]

# (case id, role, variables, name of the variable the message must mention)
BAD = [
    ("no_email", "ingress_tls", {}, "ingress_tls_acme_email"),
    ("bad_hostname", "ingress_tls", {**EMAIL, "ingress_tls_hostnames": ["Argo_CD.example.com"]}, "ingress_tls_hostnames"),
    ("bad_reserved_ip", "ingress_tls", {**EMAIL, "ingress_tls_reserved_public_ip": "ocid1.publicip.oc1..x"},
     "ingress_tls_reserved_public_ip"),
    ("bad_nsg", "ingress_tls", {**EMAIL, "ingress_tls_nlb_nsg_ids": ["sg-123"]}, "ingress_tls_nlb_nsg_ids"),
    ("dns01_without_solver", "ingress_tls", {**EMAIL, "ingress_tls_acme_solver": "dns01"}, "ingress_tls_dns01_solver"),
    # oracle/oci-cloud-controller-manager @ v1.31.1 rejects is-preserve-source with externalTrafficPolicy Cluster
    ("preserve_source_with_cluster_policy", "ingress_tls", {
        **EMAIL, "ingress_tls_preserve_client_ip": True,
        "ingress_tls_ingress_nginx_extra_values": {"controller": {"service": {"externalTrafficPolicy": "Cluster"}}}},
     "ingress_tls_ingress_nginx_extra_values"),
    ("preserve_source_annotation_in_extra_values", "ingress_tls", {
        **EMAIL, "ingress_tls_ingress_nginx_extra_values": {"controller": {"service": {"annotations": {
            "oci-network-load-balancer.oraclecloud.com/is-preserve-source": "false"}}}}},
     "ingress_tls_ingress_nginx_extra_values"),
    ("argocd_no_hostname", "argocd", {**ARGO, "argocd_hostname": ""}, "argocd_hostname"),
    ("argocd_ip_hostname", "argocd", {**ARGO, "argocd_hostname": "https://argocd.example.com"}, "argocd_hostname"),
    ("argocd_no_password", "argocd", {**ARGO, "argocd_admin_password": ""}, "argocd_admin_password"),
    ("argocd_bad_oidc", "argocd", {**ARGO, "argocd_oidc": {"name": "x", "issuer": "http://insecure"}}, "argocd_oidc"),
    ("appset_no_repo", "appsets", {"appsets_applicationsets": [{**APP, "repo_url": ""}]}, "appsets_applicationsets[0]"),
    ("appset_path_and_chart", "appsets", {"appsets_applicationsets": [{**APP, "chart": "web"}]},
     "appsets_applicationsets[0]"),
    ("appset_unknown_key", "appsets", {"appsets_applicationsets": [{**APP, "destination": "x"}]},
     "appsets_applicationsets[0]"),
    ("appset_duplicate", "appsets", {"appsets_applicationsets": [APP, APP]}, "appsets_applicationsets"),
    ("appset_bad_selector", "appsets", {"appsets_applicationsets": [
        {**APP, "cluster_selector": {"matchExpressions": [{"key": "env", "operator": "Equals"}]}}]},
     "appsets_applicationsets[0] (web).cluster_selector.matchExpressions[0].operator 'Equals' is not one of"),
    ("rollout_unknown_label", "appsets", {"argocd_progressive_syncs": True, "appsets_applicationsets": [
        {**APP, "rollout": {"steps": [{"match_labels": {"stage": ["canary"]}}]}}]},
     "appsets_applicationsets[0].rollout"),
    ("rollout_bad_max_update", "appsets", {"argocd_progressive_syncs": True, "appsets_applicationsets": [
        {**APP, "rollout": {"steps": [{"match_labels": {"env": ["test"]}, "max_update": "half"}]}}]},
     "appsets_applicationsets[0].rollout"),
    ("rollout_with_automated_sync", "appsets", {"argocd_progressive_syncs": True, "appsets_applicationsets": [
        {**APP, "rollout": ROLLOUT, "sync_policy": {"automated": True}}]},
     "appsets_applicationsets[0] (web) has a rollout and"),
    ("rollout_without_progressive_syncs", "appsets", {"appsets_applicationsets": [{**APP, "rollout": ROLLOUT}]},
     "argocd_progressive_syncs"),
    # Unknown keys at every level, labels and selectors the API server rejects (kubernetes/apimachinery @ v0.34.10 :
    # pkg/apis/meta/v1/validation/validation.go ValidateLabelSelector), each naming the entry.
    ("appset_nested_unknown_key", "appsets", {"appsets_applicationsets": [{**APP, "sync_policy": {"selfHeal": True}}]},
     "appsets_applicationsets[0] (web).sync_policy has an unknown key 'selfHeal' (did you mean 'self_heal'?)"),
    ("rollout_step_unknown_key", "appsets", {"argocd_progressive_syncs": True, "appsets_applicationsets": [
        {**APP, "rollout": {"steps": [{"matchLabels": {"env": ["test"]}}]}}]},
     "appsets_applicationsets[0] (web).rollout.steps[0] has an unknown key 'matchLabels' (did you mean 'match_labels'?)"),
    ("selector_in_without_values", "appsets", {"appsets_applicationsets": [
        {**APP, "cluster_selector": {"matchExpressions": [{"key": "env", "operator": "In"}]}}]},
     "appsets_applicationsets[0] (web).cluster_selector.matchExpressions[0].values must not be empty when operator is In"),
    ("selector_exists_with_values", "appsets", {"appsets_applicationsets": [
        {**APP, "cluster_selector": {"matchExpressions": [{"key": "env", "operator": "Exists", "values": ["a"]}]}}]},
     "cluster_selector.matchExpressions[0].values must not be given when operator is Exists"),
    ("selector_bad_key", "appsets", {"appsets_applicationsets": [
        {**APP, "cluster_selector": {"matchLabels": {"Bad Key!": "x"}}}]},
     "appsets_applicationsets[0] (web).cluster_selector.matchLabels: label key 'Bad Key!' has an invalid name"),
    ("selector_bad_value", "appsets", {"appsets_applicationsets": [
        {**APP, "cluster_selector": {"matchLabels": {"env": "not prod"}}}]},
     "appsets_applicationsets[0] (web).cluster_selector.matchLabels: label env has an invalid value 'not prod'"),
    ("rollout_bad_label_value", "appsets", {"argocd_progressive_syncs": True, "appsets_applicationsets": [
        {**APP, "rollout": {"steps": [{"match_labels": {"env": ["te st"]}}]}}]},
     "appsets_applicationsets[0] (web).rollout.steps[0].match_labels: label env has an invalid value 'te st'"),
    ("bad_cluster_label_key", "appsets", {"appsets_cluster_labels": ["env", "Bad Key!"]},
     "appsets_cluster_labels: label key 'Bad Key!' has an invalid name"),
    ("bad_default_selector", "appsets", {"appsets_default_cluster_selector": {
        "matchExpressions": [{"key": "multicluster.gitops/registered", "operator": "NotIn"}]}},
     "appsets_default_cluster_selector.matchExpressions[0].values must not be empty when operator is NotIn"),
    ("project_allows_hub_name", "appsets", {"appsets_project_destination_names": ["in-*"]},
     "appsets_project_destination_names"),
    ("project_allows_hub_server", "appsets", {"appsets_project_destination_names": ["prod-*"],
                                              "appsets_project_destination_servers": ["https://kubernetes.default.svc"]},
     "appsets_project_destination_servers"),
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    cases = GOOD + [Case(cid, role, variables) for cid, role, variables, culprit in BAD]
    return render_cases(tmp_path_factory.mktemp("hub-render"), cases)


def _objects(rendered: dict[str, Rendered]) -> list[tuple[str, dict[str, Any]]]:
    return [(c.id, obj) for c in GOOD for obj in rendered[c.id].objects()]


def test_good_cases_pass_preflight(rendered: dict[str, Rendered]) -> None:
    failed = {c.id: rendered[c.id].message for c in GOOD if not rendered[c.id].ok}
    assert failed == {}


def test_builtin_kinds_are_valid(rendered: dict[str, Rendered]) -> None:
    builtin = [(cid, o) for cid, o in _objects(rendered) if (o["apiVersion"], o["kind"]) not in CRD_FILES]
    assert {o["kind"] for cid, o in builtin} == {"Namespace", "Ingress"}
    for cid, obj in builtin:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{cid}: {obj['kind']} {obj['metadata']['name']}: {e.message}")


@pytest.mark.skipif(not CRD_DIR.is_dir(), reason=f"CRDs not found in {CRD_DIR} (set MCG_CRD_DIR)")
def test_crd_kinds_match_their_schema(rendered: dict[str, Rendered]) -> None:
    custom = [(cid, o) for cid, o in _objects(rendered) if (o["apiVersion"], o["kind"]) in CRD_FILES]
    assert {o["kind"] for cid, o in custom} == {"ClusterIssuer", "Certificate", "AppProject", "ApplicationSet"}
    for cid, obj in custom:
        errors = sorted(crd_validator(CRD_DIR, obj["apiVersion"], obj["kind"]).iter_errors(obj), key=str)
        assert not errors, f"{cid}: {obj['kind']} {obj['metadata']['name']}: {[e.message for e in errors]}"


@pytest.mark.skipif(not CRD_DIR.is_dir(), reason=f"CRDs not found in {CRD_DIR} (set MCG_CRD_DIR)")
def test_schema_check_rejects_unknown_fields() -> None:
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "x"},
              "spec": {"acme": {"server": "https://acme", "privateKeySecretRef": {"name": "k"}, "emial": "typo"}}}
    errors = list(crd_validator(CRD_DIR, "cert-manager.io/v1", "ClusterIssuer").iter_errors(issuer))
    assert any("emial" in e.message for e in errors)


@pytest.mark.parametrize("cid,role,variables,variable", BAD, ids=[b[0] for b in BAD])
def test_bad_variable_fails_preflight(rendered: dict[str, Rendered], cid: str, role: str,
                                      variables: dict[str, Any], variable: str) -> None:
    result = rendered[cid]
    assert not result.ok, f"{cid} passed the preflight"
    assert variable in result.message


def _values(rendered: dict[str, Rendered], cid: str, template: str) -> dict[str, Any]:
    (values,) = rendered[cid].docs[template]
    return values


# Every Service annotation key the OCI cloud controller manager reads for a Network Load Balancer, as declared in
# oracle/oci-cloud-controller-manager @ v1.31.1 : pkg/cloudprovider/providers/oci/load_balancer_spec.go
# (the shared `oci.oraclecloud.com/load-balancer-type` selects the NLB; the NLB keys are the
# `oci-network-load-balancer.oraclecloud.com/` ones used in this role).
CCM_NLB_ANNOTATIONS = frozenset({
    "oci.oraclecloud.com/load-balancer-type",
    "oci-network-load-balancer.oraclecloud.com/security-list-management-mode",
    "oci-network-load-balancer.oraclecloud.com/oci-network-security-groups",
    "oci-network-load-balancer.oraclecloud.com/is-preserve-source",
})
CCM_SECURITY_LIST_MODES = ("All", "Frontend", "None")


def test_ingress_nginx_nlb_service(rendered: dict[str, Rendered]) -> None:
    """Upstream: oracle/oci-cloud-controller-manager @ v1.31.1 : pkg/cloudprovider/providers/oci/load_balancer_spec.go
    (getPreserveSource: "is-preserve-source annotation cannot be set when externalTrafficPolicy is set to Cluster";
    the NLB reads its NSGs from oci-network-load-balancer.oraclecloud.com/oci-network-security-groups)."""
    default = _values(rendered, "ingress_defaults", "ingress-nginx-values.yaml.j2")["controller"]["service"]
    assert default["type"] == "LoadBalancer"
    assert default["externalTrafficPolicy"] == "Cluster"  # hairpin-safe default, see docs/hub.md
    # no is-preserve-source at all with Cluster: the CCM refuses the Service when the key is present, even "false"
    assert default["annotations"] == {
        "oci.oraclecloud.com/load-balancer-type": "nlb",
        "oci-network-load-balancer.oraclecloud.com/security-list-management-mode": "None",
    }
    assert "loadBalancerIP" not in default
    options = _values(rendered, "ingress_nlb_options", "ingress-nginx-values.yaml.j2")["controller"]["service"]
    assert options["externalTrafficPolicy"] == "Local"
    assert options["loadBalancerIP"] == "203.0.113.10"
    assert options["annotations"] == {
        "oci.oraclecloud.com/load-balancer-type": "nlb",
        "oci-network-load-balancer.oraclecloud.com/security-list-management-mode": "All",
        "oci-network-load-balancer.oraclecloud.com/is-preserve-source": "true",
        "oci-network-load-balancer.oraclecloud.com/oci-network-security-groups":
            "ocid1.networksecuritygroup.oc1.eu-frankfurt-1.aaaaaaaa1234",
    }


def test_every_nlb_annotation_is_one_the_ccm_reads(rendered: dict[str, Rendered]) -> None:
    """Upstream: oracle/oci-cloud-controller-manager @ v1.31.1 : pkg/cloudprovider/providers/oci/load_balancer_spec.go
    (the ServiceAnnotationNetworkLoadBalancer* constants, getSecurityListManagementMode, getPreserveSource): every key
    the role writes is one the CCM reads for an NLB, with a value it accepts, and is-preserve-source only with Local."""
    for case in [c for c in GOOD if c.role == "ingress_tls"]:
        service = _values(rendered, case.id, "ingress-nginx-values.yaml.j2")["controller"]["service"]
        annotations = service["annotations"]
        assert set(annotations) <= CCM_NLB_ANNOTATIONS, (case.id, set(annotations) - CCM_NLB_ANNOTATIONS)
        assert annotations["oci.oraclecloud.com/load-balancer-type"] == "nlb"
        assert annotations["oci-network-load-balancer.oraclecloud.com/security-list-management-mode"] in \
            CCM_SECURITY_LIST_MODES
        if "oci-network-load-balancer.oraclecloud.com/is-preserve-source" in annotations:
            assert service["externalTrafficPolicy"] == "Local", case.id
            assert annotations["oci-network-load-balancer.oraclecloud.com/is-preserve-source"] == "true", case.id


def test_preserve_source_with_cluster_policy_names_the_ccm_rule(rendered: dict[str, Rendered]) -> None:
    """Upstream: oracle/oci-cloud-controller-manager @ v1.31.1 : pkg/cloudprovider/providers/oci/load_balancer_spec.go
    (getPreserveSource). The preflight says why the NLB would never be created and how to fix it."""
    for cid in ("preserve_source_with_cluster_policy", "preserve_source_annotation_in_extra_values"):
        message = rendered[cid].message
        assert "externalTrafficPolicy Cluster" in message, message
        assert "never creates the Network Load Balancer" in message, message
        assert "ingress_tls_preserve_client_ip: true" in message, message


def test_cert_manager_values_and_solvers(rendered: dict[str, Rendered]) -> None:
    assert _values(rendered, "ingress_defaults", "cert-manager-values.yaml.j2")["crds"] == {"enabled": True, "keep": True}
    issuers = {o["metadata"]["name"]: o for o in rendered["ingress_defaults"].docs["cluster-issuers.yaml.j2"]}
    assert set(issuers) == {"letsencrypt-staging", "letsencrypt-prod"}
    assert "staging" in issuers["letsencrypt-staging"]["spec"]["acme"]["server"]
    assert issuers["letsencrypt-prod"]["spec"]["acme"]["email"] == "ops@example.com"
    assert issuers["letsencrypt-prod"]["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
    dns = rendered["ingress_dns01"]
    assert dns.docs["cluster-issuers.yaml.j2"][0]["spec"]["acme"]["solvers"][0]["dns01"]["webhook"]["solverName"] == "oci"
    args = _values(rendered, "ingress_dns01", "cert-manager-values.yaml.j2")["extraArgs"]
    assert "--dns01-recursive-nameservers=1.1.1.1:53,8.8.8.8:53" in args


def test_argocd_values(rendered: dict[str, Rendered]) -> None:
    values = _values(rendered, "argocd_defaults", "argocd-values.yaml.j2")
    assert values["configs"]["params"]["server.insecure"] is True
    assert values["configs"]["params"]["applicationsetcontroller.enable.progressive.syncs"] is False
    assert values["configs"]["secret"]["argocdServerAdminPassword"] == ARGO["__argocd_admin_password_hash"]
    assert values["configs"]["cm"]["url"] == "https://argocd.example.com"
    assert "oidc.config" not in values["configs"]["cm"]
    oidc = _values(rendered, "argocd_oidc", "argocd-values.yaml.j2")
    assert oidc["configs"]["params"]["applicationsetcontroller.enable.progressive.syncs"] is True
    assert "clientSecret: $oidc.clientSecret" in oidc["configs"]["cm"]["oidc.config"]
    assert oidc["configs"]["secret"]["extra"] == {"oidc.clientSecret": "oidc-secret-value"}
    cert, ingress = rendered["argocd_oidc"].docs["server-ingress.yaml.j2"]
    assert cert["spec"]["issuerRef"]["name"] == "letsencrypt-staging"
    assert ingress["spec"]["tls"][0]["secretName"] == cert["spec"]["secretName"]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {"name": "argocd-server", "port": {"name": "http"}}


def test_appproject_denies_the_hub(rendered: dict[str, Rendered]) -> None:
    (project,) = rendered["appsets_defaults"].docs["appproject.yaml.j2"]
    assert project["spec"]["destinations"] == [
        {"server": "!https://kubernetes.default.svc", "name": "!in-cluster", "namespace": "*"}]
    assert project["spec"]["sourceRepos"] == ["https://github.com/argoproj/argocd-example-apps.git"]
    (named,) = rendered["appsets_named_destinations"].docs["appproject.yaml.j2"]
    dests = named["spec"]["destinations"]
    assert {"name": "prod-*", "namespace": "web"} in dests
    assert {"server": "https://10.0.0.10:6443", "namespace": "guestbook"} in dests
    assert len(dests) == 6
    assert not any("kubernetes.default.svc" in d.get("server", "") or d.get("name") == "*" for d in dests)
    assert named["spec"]["destinationServiceAccounts"][0]["defaultServiceAccount"] == "deployer"


def test_applicationsets(rendered: dict[str, Rendered]) -> None:
    (guestbook,) = rendered["appsets_defaults"].docs["applicationsets.yaml.j2"]
    spec = guestbook["spec"]
    assert spec["goTemplate"] is True and spec["goTemplateOptions"] == ["missingkey=error"]
    assert spec["generators"] == [{"clusters": {"selector": {"matchLabels": {"multicluster.gitops/registered": "true"}}}}]
    assert "strategy" not in spec
    tmpl = spec["template"]
    assert tmpl["metadata"]["name"] == '{{ index .metadata.labels "multicluster.gitops/cluster-name" }}-guestbook'
    assert tmpl["metadata"]["labels"]["env"] == '{{ index .metadata.labels "env" }}'
    assert tmpl["spec"]["destination"] == {"server": "{{ .server }}", "namespace": "guestbook"}
    assert tmpl["spec"]["source"]["path"] == "guestbook"
    assert tmpl["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    web, podinfo = rendered["appsets_rollout"].docs["applicationsets.yaml.j2"]
    steps = web["spec"]["strategy"]["rollingSync"]["steps"]
    assert web["spec"]["strategy"]["type"] == "RollingSync"
    assert steps == [
        {"matchExpressions": [{"key": "env", "operator": "In", "values": ["test"]}], "maxUpdate": 1},
        {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}], "maxUpdate": "50%"},
    ]
    assert web["spec"]["generators"][0]["clusters"]["selector"]["matchExpressions"][0]["key"] == "env"
    assert "automated" not in web["spec"]["template"]["spec"]["syncPolicy"]
    source = podinfo["spec"]["template"]["spec"]["source"]
    assert source == {"repoURL": "https://stefanprodan.github.io/podinfo", "targetRevision": "6.7.1",
                      "chart": "podinfo", "helm": {"valuesObject": {"replicaCount": 2}}}
    assert "automated" not in podinfo["spec"]["template"]["spec"]["syncPolicy"]


def _hash_password():
    path = ROOT / "roles" / "argocd" / "files" / "bcrypt_hash.py"
    spec = importlib.util.spec_from_file_location("argocd_bcrypt_hash", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.hash_password


def test_admin_password_hash_is_reused_while_it_matches() -> None:
    hash_password = _hash_password()
    first, reused = hash_password("correct-horse-battery", "", 4)
    assert not reused and bcrypt.checkpw(b"correct-horse-battery", first.encode())
    assert hash_password("correct-horse-battery", first, 4) == (first, True)
    changed, reused = hash_password("another-password", first, 4)
    assert not reused and changed != first and bcrypt.checkpw(b"another-password", changed.encode())
    replaced, reused = hash_password("x" * 8, "not-a-bcrypt-hash", 4)
    assert not reused and bcrypt.checkpw(b"x" * 8, replaced.encode())
    with pytest.raises(ValueError, match="72 bytes"):
        hash_password("x" * 73, "", 4)


def _go_template(text: str, params: dict) -> str:
    """The two Go template forms the appsets role uses: {{ .key }} and {{ index .metadata.labels "key" }}."""
    def value(match):
        if match.group(1):
            return params["metadata"]["labels"][match.group(1)]
        return params[match.group(2)]
    return re.sub(r'\{\{ (?:index \.metadata\.labels "([^"]+)"|\.(\w+)) \}\}', value, text)


def _cluster_params(namespace: str, cluster: str, labels: dict) -> dict:
    """The cluster generator's parameters of one of our Argo CD cluster Secrets (goTemplate: true).

    Upstream: argoproj/argo-cd @ v3.2.3 : applicationset/generators/cluster.go (getClusterParameters: name = data.name,
    metadata.labels = the Secret's labels).
    """
    return {"name": f"{namespace}/{cluster}", "server": f"https://{cluster}:6443",
            "metadata": {"labels": {"multicluster.gitops/registered": "true",
                                    "multicluster.gitops/cluster-name": cluster,
                                    "multicluster.gitops/cluster-namespace": namespace, **labels}}}


def test_application_names_come_from_the_cluster_name_label(rendered: dict[str, Rendered]) -> None:
    """Argo CD cluster names are <namespace>/<cluster> (unique on the hub); Application names stay
    <cluster>-<ApplicationSet>, taken from the label multicluster.gitops/cluster-name the generator exposes.

    Upstream: argoproj/argo-cd @ v3.2.3 : applicationset/generators/cluster.go (getClusterParameters, goTemplate
    branch: params["metadata"]["labels"]).
    """
    (guestbook,) = rendered["appsets_defaults"].docs["applicationsets.yaml.j2"]
    name = guestbook["spec"]["template"]["metadata"]["name"]
    assert _go_template(name, _cluster_params("fleet", "test-1", {"env": "test"})) == "test-1-guestbook"
    assert _go_template(name, _cluster_params("fleet", "prod-1", {"env": "prod"})) == "prod-1-guestbook"
    web = rendered["appsets_rollout"].docs["applicationsets.yaml.j2"][0]
    assert _go_template(web["spec"]["template"]["metadata"]["name"],
                        _cluster_params("team-a", "test-1", {"env": "test"})) == "test-1-web"
    # the destination stays the server URL, never the (namespaced) name
    assert guestbook["spec"]["template"]["spec"]["destination"]["server"] == "{{ .server }}"


def test_rollout_drops_automated_sync(rendered: dict[str, Rendered]) -> None:
    """RollingSync forces autosync off on every Application it generates; the role does not render
    syncPolicy.automated for an ApplicationSet with a rollout, even though automated defaults to true.

    Upstream: argoproj/argo-cd @ v3.2.3 : docs/operator-manual/applicationset/Progressive-Syncs.md ("RollingSync will
    force all generated Applications to have autosync disabled").
    """
    web, podinfo = rendered["appsets_rollout"].docs["applicationsets.yaml.j2"]
    assert web["spec"]["strategy"]["type"] == "RollingSync"
    assert web["spec"]["template"]["spec"]["syncPolicy"] == {"syncOptions": ["CreateNamespace=true"]}
    (guestbook,) = rendered["appsets_defaults"].docs["applicationsets.yaml.j2"]
    assert "automated" in guestbook["spec"]["template"]["spec"]["syncPolicy"]


def _render_unmatched(applicationsets: list, secrets: list) -> dict:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    role = ROOT / "roles" / "appsets"
    variables = {}
    for name in ("defaults/main.yml", "vars/main.yml"):
        for key, value in (yaml.safe_load((role / name).read_text()) or {}).items():
            variables[key] = trust_as_template(value) if isinstance(value, str) else value
    variables.update(appsets_applicationsets=applicationsets, __appsets_registered={"resources": secrets})
    text = Templar(loader=DataLoader(), variables=variables).template(
        trust_as_template((role / "templates" / "rollout_unmatched.j2").read_text()))
    return json.loads(text) if isinstance(text, str) else text


def _secret(namespace: str, cluster: str, labels: dict) -> dict:
    params = _cluster_params(namespace, cluster, labels)
    return {"metadata": {"name": f"cluster-{namespace}.{cluster}", "labels": params["metadata"]["labels"]},
            "data": {"name": base64.b64encode(params["name"].encode()).decode()}}


def test_preflight_names_the_clusters_no_rollout_step_selects() -> None:
    """Applications that no RollingSync step selects are left out of the rollout and need a manual sync.

    Upstream: argoproj/argo-cd @ v3.2.3 : docs/operator-manual/applicationset/Progressive-Syncs.md ("If an Application
    is not selected in any step, it will be excluded from the rolling sync and needs to be manually synced").
    """
    secrets = [_secret("fleet", "test-1", {"env": "test"}), _secret("fleet", "prod-1", {"env": "prod"}),
               _secret("fleet", "qa-1", {"env": "qa"}), _secret("edge", "bare-1", {})]
    appsets = [{**APP, "rollout": ROLLOUT},
               {**APP, "name": "canary", "cluster_selector": {"matchLabels": {"env": "qa"}},
                "rollout": {"steps": [{"match_labels": {"env": ["qa"]}}]}},
               {**APP, "name": "plain"}]
    assert _render_unmatched(appsets, secrets) == {"web": ["edge/bare-1", "fleet/qa-1"]}
