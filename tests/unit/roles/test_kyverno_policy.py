"""The registration ClusterPolicy of role kyverno_policies, evaluated without a cluster.

The template is rendered as Ansible renders it (Templar, role defaults and vars), validated against the
Kyverno ClusterPolicy CRD schema, and its generate rule is run by a small Kyverno emulation
(kyverno_jmespath.py) on CAPI kubeconfig Secrets. The Secret it generates must equal the one the
argocd_cluster_secret module builds (build_cluster_secret) for the same cluster, once Kyverno's background
controller has added its labels (kj.manage_labels; kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go).
"""
from __future__ import annotations

import base64
import copy
import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import kyverno_jmespath as kj  # noqa: E402

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_cluster import (  # noqa: E402
    build_cluster_secret,
    parse_kubeconfig,
    policy_owner,
    policy_secret_differences,
    secret_name,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._summary import selector_matches  # noqa: E402
from tests.conftest import CRD_DIR  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "kyverno_policies"
HUB_URL = "https://203.0.113.10:6443"
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n").decode()
CERT = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n").decode()
KEY = base64.b64encode(b"-----BEGIN RSA PRIVATE KEY-----\nkey\n-----END RSA PRIVATE KEY-----\n").decode()
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"


# --- rendering ------------------------------------------------------------------------------------

def render(template: str, **overrides: Any) -> list[dict[str, Any]]:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    variables: dict[str, Any] = {}
    for name in ("defaults/main.yml", "vars/main.yml"):
        for key, value in (yaml.safe_load((ROLE / name).read_text()) or {}).items():
            variables[key] = trust_as_template(value) if isinstance(value, str) else value
    variables.update(overrides)
    text = Templar(loader=DataLoader(), variables=variables).template(
        trust_as_template((ROLE / "templates" / template).read_text()))
    return [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    (doc,) = render("registration-clusterpolicy.yaml.j2", _kyverno_policies_hub_urls=[HUB_URL + "/"])
    return doc


@pytest.fixture(scope="module")
def rule(policy: dict[str, Any]) -> dict[str, Any]:
    (only,) = policy["spec"]["rules"]
    return only


# --- sample objects -------------------------------------------------------------------------------

def kubeconfig(cluster: str, server: str, *, token: bool = False, extra_cluster: dict | None = None,
               extra_user: dict | None = None) -> str:
    user: dict[str, Any] = {"token": TOKEN} if token else {"client-certificate-data": CERT, "client-key-data": KEY}
    user.update(extra_user or {})
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [
            {"name": "decoy", "cluster": {"server": "https://198.51.100.1:6443", "certificate-authority-data": CA}},
            {"name": cluster, "cluster": {"server": server, "certificate-authority-data": CA, **(extra_cluster or {})}},
        ],
        "contexts": [
            {"name": "decoy@decoy", "context": {"cluster": "decoy", "user": "decoy"}},
            {"name": f"{cluster}-admin@{cluster}", "context": {"cluster": cluster, "user": f"{cluster}-admin"}},
        ],
        "users": [{"name": "decoy", "user": {"token": "decoy-token"}}, {"name": f"{cluster}-admin", "user": user}],
        "current-context": f"{cluster}-admin@{cluster}",
    }
    return yaml.safe_dump(doc)


def capi_secret(namespace: str, cluster: str, kubeconfig_text: str, *, name: str | None = None,
                secret_type: str = "cluster.x-k8s.io/secret") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Secret", "type": secret_type,
        "metadata": {"name": name or f"{cluster}-kubeconfig", "namespace": namespace,
                     "labels": {"cluster.x-k8s.io/cluster-name": cluster}},
        "data": {"value": base64.b64encode(kubeconfig_text.encode()).decode()},
    }


def capi_cluster(namespace: str, name: str, *, labels: dict | None = None, annotations: dict | None = None,
                 infra: str = "OCICluster", control_plane: str = "KubeadmControlPlane") -> dict[str, Any]:
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": infra, "name": name},
                 "controlPlaneRef": {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": control_plane,
                                     "name": f"{name}-cp"}},
    }


def fake_api(*clusters: dict[str, Any], preferred: str = "cluster.x-k8s.io/v1beta2"):
    calls: list[str] = []
    index = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in clusters}
    version = preferred.split("/")[1]

    def api(path: str) -> Any:
        calls.append(path)
        if path == "/apis/cluster.x-k8s.io":
            return {"kind": "APIGroup", "name": "cluster.x-k8s.io", "preferredVersion": {"groupVersion": preferred}}
        parts = path.strip("/").split("/")
        if parts[:3] == ["apis", "cluster.x-k8s.io", version] and len(parts) == 7 and parts[3] == "namespaces":
            obj = index.get((parts[4], parts[6]))
            if obj is not None:
                return copy.deepcopy({**obj, "apiVersion": preferred})
        raise kj.NotFound(path)

    api.calls = calls  # type: ignore[attr-defined]
    return api


def expected(cluster: dict[str, Any], secret: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    kc = parse_kubeconfig(secret["data"]["value"])
    return build_cluster_secret(cluster, kc, **kwargs)


POLICY_NAME = "multicluster-gitops-register-capi-clusters"
KYVERNO_KEYS = ("app.kubernetes.io/managed-by", "generate.kyverno.io/")


def stored(result: kj.RuleResult, trigger: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    """The generated Secret as it lands on the hub: with the labels Kyverno's background controller adds."""
    trigger = copy.deepcopy(trigger)
    trigger["metadata"]["uid"] = "5f0c3a52-trigger"
    return kj.manage_labels(result.resource, trigger, policy_name=POLICY_NAME, rule_name=rule["name"])


def assert_same_registration(generated: dict[str, Any], module_secret: dict[str, Any], **allow: Any) -> None:
    """Byte-identical but for the keys each writer stamps with its own name (managed-by; Kyverno's generate.*)."""
    assert policy_secret_differences(module_secret, generated, **allow) == []
    assert generated["data"] == module_secret["data"] and generated["type"] == module_secret["type"]
    assert generated["metadata"]["name"] == module_secret["metadata"]["name"]
    assert generated["metadata"]["annotations"] == module_secret["metadata"]["annotations"]
    ours = {k: v for k, v in generated["metadata"]["labels"].items() if not k.startswith(KYVERNO_KEYS)}
    assert ours == {k: v for k, v in module_secret["metadata"]["labels"].items() if not k.startswith(KYVERNO_KEYS)}


# --- schema -------------------------------------------------------------------------------------

def test_policy_matches_kyverno_crd_schema(policy: dict[str, Any]) -> None:
    crd_file = CRD_DIR / "kyverno.io_clusterpolicies.yaml"
    if not crd_file.exists():
        pytest.skip(f"Kyverno CRD not found at {crd_file} (set MCG_CRD_DIR)")
    jsonschema = pytest.importorskip("jsonschema")
    crd = yaml.safe_load(crd_file.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == policy["apiVersion"].split("/")[1]]
    assert version["served"], "the policy's apiVersion must be served by the Kyverno CRD"
    jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"]).validate(policy)


def test_schema_check_can_fail(policy: dict[str, Any]) -> None:
    crd_file = CRD_DIR / "kyverno.io_clusterpolicies.yaml"
    if not crd_file.exists():
        pytest.skip(f"Kyverno CRD not found at {crd_file} (set MCG_CRD_DIR)")
    jsonschema = pytest.importorskip("jsonschema")
    crd = yaml.safe_load(crd_file.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    broken = copy.deepcopy(policy)
    broken["spec"]["rules"][0]["generate"]["synchronize"] = "yes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"]).validate(broken)


def test_policy_shape(policy: dict[str, Any], rule: dict[str, Any]) -> None:
    gen = rule["generate"]
    assert policy["spec"]["background"] is True
    assert gen["synchronize"] is True and gen["generateExisting"] is True
    assert (gen["apiVersion"], gen["kind"], gen["namespace"]) == ("v1", "Secret", "argocd")
    resources = rule["match"]["any"][0]["resources"]
    assert resources["kinds"] == ["Secret"] and resources["names"] == ["*-kubeconfig"]
    assert resources["selector"]["matchExpressions"] == [{"key": "cluster.x-k8s.io/cluster-name",
                                                          "operator": "Exists"}]
    assert "stringData" not in gen["data"] and set(gen["data"]["data"]) == {"name", "server", "config"}


# --- Kyverno functions ----------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "result"), [
    # the example of Kyverno's documentation for sha256
    ("sha256('alertmanager-kube-prometheus-stack-alertmanager')",
     "75c07bb807f2d80a85d34880b8af0c5f29f7c27577076ed5d0e4b427dee7dbcc"),
    ("truncate('abcdef', `3`)", "abc"),
    ("truncate('abc', `10`)", "abc"),
    ("truncate('abc', `-1`)", ""),
    ("regex_replace_all('-+$', 'abc--', '')", "abc"),
    ("to_string(`{\"b\": \"<&>\", \"a\": [1, false]}`)", '{"a":[1,false],"b":"\\u003c\\u0026\\u003e"}'),
    ("to_string('plain')", "plain"),
    ("lookup(`{\"a\": 1}`, 'b')", None),
    ("object_from_lists(`[\"a\", \"b\"]`, `[1]`)", {"a": 1, "b": None}),
    ("items(`{\"b\": 2, \"a\": 1}`, 'k', 'v')", [{"k": "a", "v": 1}, {"k": "b", "v": 2}]),
    ("base64_encode(base64_decode('aGVsbG8='))", "aGVsbG8="),
])
def test_kyverno_functions(expression: str, result: Any) -> None:
    assert kj.search(expression, {}) == result


def test_nested_substitution_and_typed_values() -> None:
    ctx = {"a": {"b": "x"}, "x": {"n": 3}, "obj": {"k": "v"}}
    assert kj.substitute("{{ x.n }}", ctx) == 3
    assert kj.substitute("{{ obj }}", ctx) == {"k": "v"}
    assert kj.substitute("n={{ x.n }}", ctx) == "n=3"
    assert kj.substitute("{{ {{ a.b }}.n }}", ctx) == 3


# --- the generate rule against the module's builder ------------------------------------------------

CASES = {
    "client-cert": dict(namespace="team-a", cluster="wl1", token=False,
                        labels={"env": "prod", "region": "eu-frankfurt-1", "owner": "x", "tier": "gold"}),
    "token": dict(namespace="team-a", cluster="wl2", token=True, labels={"env": "dev"}),
    "no-labels": dict(namespace="default", cluster="c", token=False, labels={}),
    "long-name": dict(namespace="platform-workloads-europe", token=False, labels={"region": "eu"},
                      cluster="frankfurt-kubeadm-cluster-with-a-very-long-name-0001"),
    "long-name-no-dash": dict(namespace="ns", cluster="abcdefghij" * 7, token=False, labels={}),
    "long-name-dash-at-cut": dict(namespace="n" * 20, cluster="c" * 22 + "-" + "d" * 30, token=True, labels={}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_secret_equals_module_secret(rule: dict[str, Any], case: str) -> None:
    c = CASES[case]
    cluster = capi_cluster(c["namespace"], c["cluster"], labels=c["labels"],
                           annotations={"note": "not copied"})
    secret = capi_secret(c["namespace"], c["cluster"],
                         kubeconfig(c["cluster"], f"https://{c['cluster'][:20]}.example.com:6443", token=c["token"]))
    result = kj.evaluate_rule(rule, secret, fake_api(cluster))
    assert result.applied, f"{case}: the policy skipped a kubeadm cluster"
    want = expected(cluster, secret)
    generated = stored(result, secret, rule)
    assert_same_registration(generated, want)
    name = generated["metadata"]["name"]
    assert len(name) <= 63 and name == secret_name(c["namespace"], c["cluster"])
    assert base64.b64decode(generated["data"]["name"]).decode() == f"{c['namespace']}/{c['cluster']}"


def test_kyverno_labels_leave_ownership_to_our_label(rule: dict[str, Any]) -> None:
    """Kyverno overwrites app.kubernetes.io/managed-by with "kyverno" on every generated resource (also for a
    ``data`` rule whose metadata sets it) and adds generate.kyverno.io/*; multicluster.gitops/registered survives,
    and it is what the ApplicationSets' default cluster generator selects on, for both writers' Secrets.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go (ManageLabels, managedBy, PolicyInfo,
    TriggerInfo), pkg/background/generate/generator.go (ManageLabels before CreateResource/UpdateResource).
    """
    cluster = capi_cluster("team-a", "test-1", labels={"env": "test"})
    secret = capi_secret("team-a", "test-1", kubeconfig("test-1", "https://test-1.example.com:6443"))
    generated = stored(kj.evaluate_rule(rule, secret, fake_api(cluster)), secret, rule)
    labels = generated["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "kyverno"
    assert policy_owner(generated) == POLICY_NAME
    assert labels["generate.kyverno.io/trigger-kind"] == "Secret" and labels["generate.kyverno.io/rule-name"] == rule["name"]
    assert labels["multicluster.gitops/registered"] == "true"
    module_secret = expected(cluster, secret)
    appsets_defaults = yaml.safe_load((ROOT / "roles" / "appsets" / "defaults" / "main.yml").read_text())
    selector = appsets_defaults["appsets_default_cluster_selector"]
    assert selector_matches(selector, labels), "the ApplicationSets would select no cluster the policy registered"
    assert selector_matches(selector, module_secret["metadata"]["labels"])


def test_long_name_is_hashed(rule: dict[str, Any]) -> None:
    ns, name = CASES["long-name-dash-at-cut"]["namespace"], CASES["long-name-dash-at-cut"]["cluster"]
    secret = capi_secret(ns, name, kubeconfig(name, "https://w.example.com", token=True))
    result = kj.evaluate_rule(rule, secret, fake_api(capi_cluster(ns, name)))
    full = f"cluster-{ns}.{name}"
    assert len(full) > 63 and full[:52].endswith("-")
    digest = hashlib.sha256(f"{ns}/{name}".encode()).hexdigest()[:10]
    assert result.resource["metadata"]["name"] == f"{full[:52].rstrip('-.')}-{digest}"


@pytest.mark.parametrize(("first", "second"), [(("a-b", "c"), ("a", "b-c")), (("team-a", "prod-1"), ("team-b", "prod-1"))])
def test_names_are_unique_on_the_hub(rule: dict[str, Any], first: tuple[str, str], second: tuple[str, str]) -> None:
    """Neither the Secret name nor the Argo CD cluster name (data.name) of two CAPI Clusters collide; Argo CD refuses
    a destination name that two cluster Secrets share.

    Upstream: argoproj/argo-cd @ v3.2.3 : util/argo/argo.go ("there are %d clusters with the same name");
    argoproj/argo-cd issues #7287 and #16013.
    """
    secrets = []
    for ns, name in (first, second):
        trigger = capi_secret(ns, name, kubeconfig(name, f"https://{ns}-{name}.example.com"))
        secrets.append(kj.evaluate_rule(rule, trigger, fake_api(capi_cluster(ns, name))).resource)
    one, two = secrets
    assert one["metadata"]["name"] != two["metadata"]["name"]
    assert one["data"]["name"] != two["data"]["name"]
    assert one["metadata"]["labels"]["multicluster.gitops/cluster-name"] == first[1]


def test_labels_and_annotations_follow_allowlists(rule: dict[str, Any]) -> None:
    (policy,) = render("registration-clusterpolicy.yaml.j2", kyverno_policies_label_allowlist=["team"],
                       kyverno_policies_annotation_allowlist=["example.com/owner"])
    rule2 = policy["spec"]["rules"][0]
    cluster = capi_cluster("ns", "wl", labels={"team": "blue", "env": "prod"},
                           annotations={"example.com/owner": "ops", "other": "x"})
    secret = capi_secret("ns", "wl", kubeconfig("wl", "https://wl.example.com"))
    result = kj.evaluate_rule(rule2, secret, fake_api(cluster))
    assert result.resource["metadata"]["labels"]["team"] == "blue"
    assert "env" not in result.resource["metadata"]["labels"]
    assert result.resource["metadata"]["annotations"] == {"example.com/owner": "ops",
                                                          "multicluster.gitops/credential-mode": "kubeconfig"}
    assert_same_registration(stored(result, secret, rule2),
                             expected(cluster, secret, label_allowlist=["team"],
                                      annotation_allowlist=["example.com/owner"]),
                             label_allowlist=["team"], annotation_allowlist=["example.com/owner"])


def test_rotation_changes_only_config(rule: dict[str, Any]) -> None:
    cluster = capi_cluster("ns", "wl")
    before = kj.evaluate_rule(rule, capi_secret("ns", "wl", kubeconfig("wl", "https://wl.example.com")),
                              fake_api(cluster)).resource
    rotated = kubeconfig("wl", "https://wl.example.com", extra_user={
        "client-certificate-data": base64.b64encode(b"rotated-cert").decode()})
    after = kj.evaluate_rule(rule, capi_secret("ns", "wl", rotated), fake_api(cluster), operation="UPDATE").resource
    assert before["metadata"] == after["metadata"]
    assert before["data"]["config"] != after["data"]["config"]
    assert before["data"]["server"] == after["data"]["server"]


@pytest.mark.parametrize("preferred", ["cluster.x-k8s.io/v1beta1", "cluster.x-k8s.io/v1beta2"])
def test_reads_the_preferred_capi_version(rule: dict[str, Any], preferred: str) -> None:
    cluster = capi_cluster("ns", "wl", labels={"env": "qa"})
    api = fake_api(cluster, preferred=preferred)
    result = kj.evaluate_rule(rule, capi_secret("ns", "wl", kubeconfig("wl", "https://wl.example.com")), api)
    assert result.applied and result.resource["metadata"]["labels"]["env"] == "qa"
    assert api.calls == ["/apis/cluster.x-k8s.io", f"/apis/{preferred}/namespaces/ns/clusters/wl"]


SKIPPED = {
    "oke-infrastructure": lambda: (capi_cluster("ns", "wl", infra="OCIManagedCluster",
                                                control_plane="OCIManagedControlPlane"), {}),
    "oke-control-plane-only": lambda: (capi_cluster("ns", "wl", control_plane="OCIManagedControlPlane"), {}),
    "service-account-mode": lambda: (capi_cluster("ns", "wl", labels={
        "multicluster.gitops/credential-mode": "service_account"}), {}),
    "hub-in-cluster-url": lambda: (capi_cluster("ns", "wl"), {"server": "https://kubernetes.default.svc"}),
    "hub-client-url": lambda: (capi_cluster("ns", "wl"), {"server": HUB_URL.upper().replace("HTTPS", "https")}),
    "hub-client-url-slash": lambda: (capi_cluster("ns", "wl"), {"server": HUB_URL + "/"}),
    "plain-http": lambda: (capi_cluster("ns", "wl"), {"server": "http://wl.example.com"}),
    "insecure": lambda: (capi_cluster("ns", "wl"), {"extra_cluster": {"insecure-skip-tls-verify": True}}),
    "exec-user": lambda: (capi_cluster("ns", "wl"), {"exec_user": True}),
    "wrong-type": lambda: (capi_cluster("ns", "wl"), {"secret_type": "Opaque"}),
    "user-kubeconfig": lambda: (capi_cluster("ns", "wl"), {"name": "wl-user-kubeconfig"}),
    "no-capi-cluster": lambda: (capi_cluster("ns", "other"), {}),
}


@pytest.mark.parametrize("case", sorted(SKIPPED))
def test_excluded_clusters_are_skipped(rule: dict[str, Any], case: str) -> None:
    cluster, opts = SKIPPED[case]()
    extra_user = {"exec": {"command": "oci"}, "client-certificate-data": None, "client-key-data": None} \
        if opts.get("exec_user") else None
    text = kubeconfig("wl", opts.get("server", "https://wl.example.com"), extra_cluster=opts.get("extra_cluster"),
                      extra_user=extra_user)
    secret = capi_secret("ns", "wl", text, name=opts.get("name"), secret_type=opts.get("secret_type",
                                                                                       "cluster.x-k8s.io/secret"))
    result = kj.evaluate_rule(rule, secret, fake_api(cluster))
    assert not result.applied, f"{case}: the policy must leave this Secret alone"
    assert result.resource is None


def test_control_case_for_exclusions(rule: dict[str, Any]) -> None:
    """The same inputs as the exclusion cases, minus the excluding detail, are registered."""
    secret = capi_secret("ns", "wl", kubeconfig("wl", "https://wl.example.com"))
    assert kj.evaluate_rule(rule, secret, fake_api(capi_cluster("ns", "wl"))).applied


def test_python_json_dump_differs_from_go_for_html_characters() -> None:
    """Why to_string is emulated: Go escapes <, > and & and writes non-ASCII as UTF-8."""
    import json

    value = {"bearerToken": "a&b", "x": "é"}
    assert kj.go_json(value) == '{"bearerToken":"a\\u0026b","x":"é"}'
    assert json.dumps(value, sort_keys=True, separators=(",", ":")) != kj.go_json(value)


def test_rbac_is_least_privilege() -> None:
    docs = render("registration-rbac.yaml.j2")
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    role = by_kind[("Role", "multicluster-gitops-kyverno-registration")]
    assert role["metadata"]["namespace"] == "argocd"
    assert set(role["rules"][0]["verbs"]) == {"create", "update", "patch", "delete", "get", "list", "watch"}
    binding = by_kind[("RoleBinding", "multicluster-gitops-kyverno-registration")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kyverno-background-controller",
                                    "namespace": "kyverno"}]
    cluster_roles = [d for d in docs if d["kind"] == "ClusterRole"]
    for cr in cluster_roles:
        assert cr["metadata"]["labels"]["rbac.kyverno.io/aggregate-to-background-controller"] == "true"
        for r in cr["rules"]:
            assert set(r["verbs"]) <= {"get", "list", "watch"}, f"{cr['metadata']['name']} may only read"
    capi = [r for cr in cluster_roles for r in cr["rules"] if r["apiGroups"] == ["cluster.x-k8s.io"]]
    assert capi == [{"apiGroups": ["cluster.x-k8s.io"], "resources": ["clusters"], "verbs": ["get", "list", "watch"]}]


@pytest.mark.parametrize(("overrides", "account"), [
    ({}, "kyverno-background-controller"),
    ({"kyverno_policies_release_name": "platform"}, "kyverno-background-controller"),
    ({"kyverno_policies_chart_values": {"nameOverride": "kv"}}, "kv-background-controller"),
    ({"kyverno_policies_chart_values": {"backgroundController": {"rbac": {"serviceAccount": {"name": "bg"}}}}}, "bg"),
], ids=["default", "release-name", "name-override", "explicit"])
def test_rbac_subject_is_the_charts_service_account(overrides: dict[str, Any], account: str) -> None:
    """The background controller's ServiceAccount is named after the chart (kyverno.name), not the release.

    Upstream: kyverno/kyverno @ kyverno-chart-3.8.2 : charts/kyverno/templates/background-controller/_helpers.tpl
    (kyverno.background-controller.name, .serviceAccountName), charts/kyverno/templates/admission-controller/_helpers.tpl
    (the same rule for the admission controller) and charts/kyverno/templates/_helpers/_names.tpl.
    """
    docs = render("registration-rbac.yaml.j2", **overrides)
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding" and not d["metadata"]["name"].endswith(":admission")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "kyverno"}]
    (admission,) = [d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["name"].endswith(":admission")]
    expected = account.replace("background", "admission") if account.endswith("-background-controller") \
        else "kyverno-admission-controller"  # only the background controller's name was overridden
    assert admission["subjects"] == [{"kind": "ServiceAccount", "name": expected, "namespace": "kyverno"}]


@pytest.mark.parametrize(("expression", "result"), [
    # Go's base64.StdEncoding ignores \r and \n
    ("base64_decode('aGVs\nbG8=')", "hello"),
    # sigs.k8s.io/yaml keeps timestamps as strings and writes keys as strings
    ("parse_yaml('expires: 2026-12-02\n8080: port')", {"expires": "2026-12-02", "8080": "port"}),
    ("to_string(parse_yaml('at: 2026-12-02'))", '{"at":"2026-12-02"}'),
    # ifaceToString: strconv.FormatFloat(f, 'f', -1, 32)
    ("object_from_lists(`[0.1, 1e21, 2]`, `[1, 2, 3]`)", {"0.1": 1, "1000000000000000000000": 2, "2": 3}),
    ("regex_replace_all('x', 'x', `16777217`)", "16777216"),
    ("truncate('\u00e9t\u00e9', `2`)", "\u00e9t"),
    ("length('\u00e9t\u00e9')", 3),
])
def test_kyverno_functions_follow_go(expression: str, result: Any) -> None:
    """Where Python and Go differ, the emulation follows Kyverno.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/engine/jmespath/functions.go (jpBase64Decode, jpParseYAML, jpTruncate,
    ifaceToString); kyverno/go-jmespath functions.go (jpfLength, jpfToString).
    """
    assert kj.search(expression, {}) == result


def test_rbac_lets_the_admission_controller_read_generated_secrets() -> None:
    """With synchronize, Kyverno's policy webhook requires the admission controller to get and list the
    generated kind in the target namespace (SubjectAccessReview), else it refuses the policy.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/validation/policy/actions.go (admissionSA, verbs list,get).
    """
    docs = render("registration-rbac.yaml.j2")
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    role = by_kind[("Role", "multicluster-gitops-kyverno-registration:admission")]
    assert role["metadata"]["namespace"] == "argocd"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]
    binding = by_kind[("RoleBinding", "multicluster-gitops-kyverno-registration:admission")]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kyverno-admission-controller",
                                    "namespace": "kyverno"}]
