"""The Argo CD cluster Secret format: kubeconfig parsing, names, labels, redaction (pure functions)."""
from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest
import yaml

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_cluster import (
    ANNOTATION_OWNED_ANNOTATIONS,
    ANNOTATION_OWNED_LABELS,
    owned_keys_record,
    recorded_keys,
    with_owned_record,
    KubeconfigError,
    argocd_cluster_name,
    build_cluster_secret,
    dump_config,
    control_plane_initialized,
    is_oke_cluster,
    merge_for_update,
    normalise_server,
    parse_kubeconfig,
    policy_secret_differences,
    redact_secret,
    secret_differs,
    secret_name,
    service_account_config,
)

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nCA-MATERIAL\n-----END CERTIFICATE-----\n").decode()
CERT = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nCLIENT-CERT-MATERIAL\n-----END CERTIFICATE-----\n").decode()
KEY = base64.b64encode(
    b"-----BEGIN RSA PRIVATE KEY-----\nCLIENT-KEY-MATERIAL\n-----END RSA PRIVATE KEY-----\n").decode()
TOKEN = "eyJhbGciOiJSUzI1NiJ9.sample-token-material"
SERVER = "https://10.0.0.10:6443"


def kubeconfig(user=None, cluster=None, current="dev-admin@dev"):
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": "dev", "cluster": cluster if cluster is not None else
                      {"server": SERVER, "certificate-authority-data": CA}}],
        "users": [{"name": "dev-admin", "user": user if user is not None else
                   {"client-certificate-data": CERT, "client-key-data": KEY}}],
        "contexts": [{"name": "dev-admin@dev", "context": {"cluster": "dev", "user": "dev-admin"}}],
    }


def encode(doc) -> str:
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc)
    return base64.b64encode(text.encode()).decode()


def capi_cluster(name="dev", namespace="workloads", labels=None, annotations=None):
    return {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {},
                         "annotations": annotations or {}}}


# --- parse_kubeconfig ------------------------------------------------------------------------------

def test_parse_client_certificate_kubeconfig():
    kc = parse_kubeconfig(encode(kubeconfig()))
    assert (kc.server, kc.ca_data, kc.cert_data, kc.key_data, kc.token) == (SERVER, CA, CERT, KEY, None)
    assert kc.auth == "client_certificate"
    assert kc.context == "dev-admin@dev"


def test_parse_token_kubeconfig():
    kc = parse_kubeconfig(encode(kubeconfig(user={"token": TOKEN})))
    assert (kc.token, kc.cert_data, kc.auth) == (TOKEN, None, "token")


def test_parse_accepts_a_dict_and_plain_yaml():
    assert parse_kubeconfig(kubeconfig()).server == SERVER
    assert parse_kubeconfig(yaml.safe_dump(kubeconfig()), base64_encoded=False).server == SERVER


def _without_current_context():
    doc = kubeconfig()
    del doc["current-context"]
    return encode(doc)


BAD_KUBECONFIGS = [
    ("not base64", "%%% not base64 %%%", "not valid base64"),
    ("not yaml", encode("clusters: [unclosed\n  - {"), "not valid YAML"),
    ("yaml scalar", encode("just a string"), "not a YAML mapping"),
    ("no current-context", _without_current_context(), "no current-context"),
    ("unknown context", encode(kubeconfig(current="other")), "context 'other'"),
    ("ca file path", encode(kubeconfig(cluster={"server": SERVER, "certificate-authority": "/etc/ca.crt"})),
     "certificate-authority-data"),
    ("no ca", encode(kubeconfig(cluster={"server": SERVER})), "no certificate-authority-data"),
    ("http server", encode(kubeconfig(cluster={"server": "http://x:80", "certificate-authority-data": CA})),
     "https://"),
    ("exec plugin", encode(kubeconfig(user={"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                                     "command": "oci", "args": ["ce", "cluster"]}})),
     "service_account"),
    ("auth provider", encode(kubeconfig(user={"auth-provider": {"name": "oidc"}})), "auth-provider"),
    ("insecure", encode(kubeconfig(cluster={"server": SERVER, "insecure-skip-tls-verify": True})),
     "allow_insecure"),
    ("cert file", encode(kubeconfig(user={"client-certificate": "/c.crt", "client-key": "/c.key"})),
     "points to a file"),
    ("cert without key", encode(kubeconfig(user={"client-certificate-data": CERT})), "both client-certificate-data"),
    ("cert not base64", encode(kubeconfig(user={"client-certificate-data": "??", "client-key-data": KEY})),
     "not base64"),
    ("no credentials", encode(kubeconfig(user={"username": "admin"})), "neither a client certificate nor a token"),
]


@pytest.mark.parametrize("raw,fragment", [(raw, frag) for case_id, raw, frag in BAD_KUBECONFIGS],
                         ids=[case[0] for case in BAD_KUBECONFIGS])
def test_bad_kubeconfigs_are_refused_with_what_to_fix(raw, fragment):
    with pytest.raises(KubeconfigError) as err:
        parse_kubeconfig(raw)
    assert fragment in err.value.msg
    for material in ("CLIENT-KEY-MATERIAL", "CLIENT-CERT-MATERIAL", KEY, CERT):
        assert material not in err.value.msg


def test_yaml_error_does_not_quote_the_document():
    raw = encode(f"users:\n- user: {{client-key-data: {KEY}\n")
    with pytest.raises(KubeconfigError) as err:
        parse_kubeconfig(raw)
    assert KEY not in str(err.value)
    assert err.value.__cause__ is None


def test_insecure_allowed_on_request():
    kc = parse_kubeconfig(encode(kubeconfig(cluster={"server": SERVER, "insecure-skip-tls-verify": True})),
                          allow_insecure=True)
    assert kc.insecure is True
    assert json.loads(build_cluster_secret_config(kc))["tlsClientConfig"]["insecure"] is True


def build_cluster_secret_config(kc):
    secret = build_cluster_secret(capi_cluster(), kc)
    return base64.b64decode(secret["data"]["config"]).decode()


def test_sensitive_values_hold_encoded_and_decoded_material():
    values = parse_kubeconfig(encode(kubeconfig())).sensitive_values()
    assert KEY in values and any("CLIENT-KEY-MATERIAL" in v for v in values)
    assert CA not in values and CERT not in values  # public; masking them would only cost time
    assert parse_kubeconfig(encode(kubeconfig(user={"token": TOKEN}))).sensitive_values() == [TOKEN]


# --- secret_name ---------------------------------------------------------------------------------

@pytest.mark.parametrize("namespace,cluster,expected", [
    ("workloads", "dev", "cluster-workloads.dev"),
    ("a" * 20, "b" * 34, "cluster-" + "a" * 20 + "." + "b" * 34),  # exactly 63
])
def test_short_names_are_kept(namespace, cluster, expected):
    assert secret_name(namespace, cluster) == expected
    assert len(expected) <= 63


def test_long_names_are_cut_and_hashed():
    ns, cluster = "team-platform-engineering", "production-eu-frankfurt-1-kubeadm-cluster"
    full = f"cluster-{ns}.{cluster}"
    assert len(full) > 63
    digest = hashlib.sha256(f"{ns}/{cluster}".encode()).hexdigest()[:10]
    name = secret_name(ns, cluster)
    assert name == f"{full[:52]}-{digest}"
    assert len(name) <= 63


def test_long_name_cut_strips_trailing_dash():
    ns = "n" * 43  # "cluster-" (8) + 43 = 51 characters, so the 52nd is the "-" before the cluster name
    cluster = "c" * 30
    digest = hashlib.sha256(f"{ns}/{cluster}".encode()).hexdigest()[:10]
    assert secret_name(ns, cluster) == f"cluster-{ns}-{digest}"


def test_long_name_cut_strips_trailing_dot():
    ns = "n" * 43  # "cluster-" (8) + 43 = 51 characters, so the 52nd is the "." before the cluster name
    cluster = "c" * 30
    digest = hashlib.sha256(f"{ns}/{cluster}".encode()).hexdigest()[:10]
    assert secret_name(ns, cluster) == f"cluster-{ns}-{digest}"


@pytest.mark.parametrize(("first", "second"), [
    (("a-b", "c"), ("a", "b-c")),          # "cluster-a-b-c" for both under the old scheme
    (("team-x", "prod-1"), ("team", "x-prod-1")),
])
def test_secret_names_of_different_clusters_never_collide(first, second):
    """A namespace holds no '.', so cluster-<namespace>.<cluster> is unique per (namespace, cluster)."""
    assert secret_name(*first) != secret_name(*second)
    assert argocd_cluster_name(*first) != argocd_cluster_name(*second)


def test_same_cluster_name_in_two_namespaces_gets_two_argocd_names():
    """Argo CD refuses a destination name two cluster Secrets share ("there are 2 clusters with the same name").

    Upstream: argoproj/argo-cd @ v3.2.3 : util/argo/argo.go (GetDestinationCluster by name); issues #7287, #16013.
    """
    kc = parse_kubeconfig(kubeconfig(), base64_encoded=False)
    one = build_cluster_secret(capi_cluster(name="prod-1", namespace="team-a"), kc)
    two = build_cluster_secret(capi_cluster(name="prod-1", namespace="team-b"), kc)
    assert decoded(one)["name"] == "team-a/prod-1" and decoded(two)["name"] == "team-b/prod-1"
    assert one["metadata"]["name"] != two["metadata"]["name"]
    for secret in (one, two):
        assert secret["metadata"]["labels"]["multicluster.gitops/cluster-name"] == "prod-1"


def test_long_names_of_different_clusters_differ():
    ns = "x" * 60
    assert secret_name(ns, "one") != secret_name(ns, "two")


# --- build_cluster_secret --------------------------------------------------------------------------

def decoded(secret):
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_client_certificate_secret_matches_the_contract():
    """A declarative Argo CD cluster: label argocd.argoproj.io/secret-type=cluster, data keys name, server (no
    trailing slash) and config, the JSON of ClusterConfig with tlsClientConfig caData/certData/keyData/insecure.

    Upstream: argoproj/argo-cd @ v3.2.3 : util/db/cluster.go (clusterToSecret / secretToCluster),
    pkg/apis/application/v1alpha1/types.go (ClusterConfig, TLSClientConfig), common/common.go (LabelKeySecretType).
    """
    cluster = capi_cluster(labels={"env": "dev", "region": "eu-frankfurt-1", "team": "a"},
                           annotations={"owner": "team-a"})
    secret = build_cluster_secret(cluster, parse_kubeconfig(encode(kubeconfig())))
    assert secret["metadata"] == {
        "name": "cluster-workloads.dev", "namespace": "argocd",
        "labels": {"argocd.argoproj.io/secret-type": "cluster", "app.kubernetes.io/managed-by": "multicluster.gitops",
                   "multicluster.gitops/registered": "true",
                   "multicluster.gitops/cluster-name": "dev", "multicluster.gitops/cluster-namespace": "workloads",
                   "env": "dev", "region": "eu-frankfurt-1"},
        "annotations": {"multicluster.gitops/credential-mode": "kubeconfig"},
    }
    assert secret["type"] == "Opaque"
    assert "stringData" not in secret
    data = decoded(secret)
    assert set(data) == {"name", "server", "config"}
    assert data["name"] == "workloads/dev" and data["server"] == SERVER
    assert data["config"] == ('{"tlsClientConfig":{"caData":"%s","certData":"%s","insecure":false,"keyData":"%s"}}'
                              % (CA, CERT, KEY))


def test_token_secret_config():
    """A token user becomes ClusterConfig.bearerToken beside tlsClientConfig.caData.

    Upstream: argoproj/argo-cd @ v3.2.3 : pkg/apis/application/v1alpha1/types.go (ClusterConfig.BearerToken).
    """
    secret = build_cluster_secret(capi_cluster(), parse_kubeconfig(encode(kubeconfig(user={"token": TOKEN}))))
    assert decoded(secret)["config"] == '{"bearerToken":"%s","tlsClientConfig":{"caData":"%s","insecure":false}}' % (
        TOKEN, CA)


def test_allowlists_are_configurable_and_fixed_labels_win():
    cluster = capi_cluster(labels={"env": "prod", "multicluster.gitops/cluster-name": "spoofed", "cost": "x"},
                           annotations={"owner": "a", "note": "b"})
    secret = build_cluster_secret(cluster, parse_kubeconfig(kubeconfig(), base64_encoded=False),
                                  label_allowlist=["cost", "multicluster.gitops/cluster-name"],
                                  annotation_allowlist=["owner"], credential_mode="service_account",
                                  config=service_account_config("t0ken", CA), argocd_namespace="gitops")
    meta = secret["metadata"]
    assert meta["namespace"] == "gitops"
    assert meta["labels"]["cost"] == "x" and "env" not in meta["labels"]
    assert meta["labels"]["multicluster.gitops/cluster-name"] == "dev"
    assert meta["annotations"] == {"owner": "a", "multicluster.gitops/credential-mode": "service_account"}
    assert json.loads(decoded(secret)["config"])["bearerToken"] == "t0ken"


def test_optional_argocd_keys():
    """Optional keys as Argo CD reads them: project, namespaces (comma-joined), clusterResources.

    Upstream: argoproj/argo-cd @ v3.2.3 : util/db/cluster.go (clusterToSecret, secretToCluster).
    """
    secret = build_cluster_secret(capi_cluster(), parse_kubeconfig(kubeconfig(), base64_encoded=False),
                                  project="team-a", namespaces=["a", "b"], cluster_resources=False)
    data = decoded(secret)
    assert (data["project"], data["namespaces"], data["clusterResources"]) == ("team-a", "a,b", "false")


# --- comparison ----------------------------------------------------------------------------------

def _desired(labels=None):
    return build_cluster_secret(capi_cluster(labels=labels), parse_kubeconfig(kubeconfig(), base64_encoded=False))


def test_equal_secret_with_foreign_metadata_needs_no_write():
    live = copy.deepcopy(_desired())
    live["metadata"]["labels"]["added-by-someone"] = "x"
    live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    live["metadata"]["resourceVersion"] = "42"
    assert not secret_differs(_desired(), live)


@pytest.mark.parametrize("mutate", [
    lambda s: s["data"].update(server=base64.b64encode(b"https://other").decode()),
    lambda s: s["data"].update(extra="eA=="),
    lambda s: s["metadata"]["labels"].update(env="stale"),  # allow-listed key no longer on the Cluster
    lambda s: s["metadata"]["annotations"].update({"multicluster.gitops/credential-mode": "service_account"}),
    lambda s: s.update(type="kubernetes.io/generic"),
], ids=["data", "extra-key", "stale-allowlisted-label", "annotation", "type"])
def test_differences_need_a_write(mutate):
    live = copy.deepcopy(_desired())
    mutate(live)
    assert secret_differs(_desired(), live)


def test_label_change_on_the_cluster_propagates():
    assert secret_differs(_desired({"env": "prod"}), _desired({"env": "dev"}))
    assert secret_differs(_desired({}), _desired({"env": "dev"}))


def test_merge_for_update_keeps_foreign_metadata_and_drops_stale_owned_keys():
    live = _desired({"env": "dev", "tier": "gold"})
    live["metadata"]["labels"]["added-by-someone"] = "x"
    live["metadata"]["resourceVersion"] = "7"
    body = merge_for_update(_desired({"env": "prod"}), live)
    labels = body["metadata"]["labels"]
    assert labels["env"] == "prod" and "tier" not in labels and labels["added-by-someone"] == "x"
    assert body["metadata"]["resourceVersion"] == "7"
    assert not secret_differs(_desired({"env": "prod"}), body)


def _recorded(labels=None, allowlist=("env", "region", "tier")):
    return with_owned_record(_desired(labels), label_allowlist=allowlist)


def test_record_lists_the_copied_allowlisted_keys():
    secret = _recorded({"env": "dev", "tier": "gold", "other": "x"})
    assert secret["metadata"]["annotations"][ANNOTATION_OWNED_LABELS] == "env,tier"
    assert secret["metadata"]["annotations"][ANNOTATION_OWNED_ANNOTATIONS] == ""
    assert recorded_keys(secret, ANNOTATION_OWNED_LABELS) == {"env", "tier"}
    assert recorded_keys(_desired(), ANNOTATION_OWNED_LABELS) is None
    assert owned_keys_record(["b", "a", "b"]) == "a,b"


@pytest.mark.parametrize("live_labels, live_record, want_labels, differs, kept, dropped", [
    # recorded and no longer on the Cluster: removed
    ({"env": "dev", "tier": "gold"}, "env,tier", {"env": "dev"}, True, {"env"}, {"tier"}),
    # allow-listed but not recorded (someone else set it): left alone
    ({"env": "dev", "tier": "by-hand"}, "env", {"env": "dev"}, False, {"env", "tier"}, set()),
    # no record (written before the record existed): allow-listed keys count as owned
    ({"env": "dev", "tier": "gold"}, None, {"env": "dev"}, True, {"env"}, {"tier"}),
], ids=["recorded-removed", "foreign-kept", "legacy-allowlist"])
def test_only_recorded_keys_are_removed(live_labels, live_record, want_labels, differs, kept, dropped):
    live = copy.deepcopy(_recorded(live_labels))
    if live_record is None:
        del live["metadata"]["annotations"][ANNOTATION_OWNED_LABELS]
    else:
        live["metadata"]["annotations"][ANNOTATION_OWNED_LABELS] = live_record
    want = _recorded(want_labels)
    assert secret_differs(want, live) is differs
    body = merge_for_update(want, live)
    assert kept <= set(body["metadata"]["labels"]) and not dropped & set(body["metadata"]["labels"])
    assert not secret_differs(want, body)


def test_policy_comparison_ignores_the_record():
    """The Kyverno policy writes no record; a policy-generated Secret equal to the module's is still equal."""
    generated = _desired({"env": "dev"})
    assert policy_secret_differences(_recorded({"env": "dev"}), generated) == []


# --- redaction -----------------------------------------------------------------------------------

def test_redaction_hides_every_credential_but_shows_changes():
    one = build_cluster_secret(capi_cluster(), parse_kubeconfig(kubeconfig(), base64_encoded=False))
    two = build_cluster_secret(capi_cluster(), parse_kubeconfig(kubeconfig(user={"token": TOKEN}),
                                                                base64_encoded=False))
    red_one, red_two = redact_secret(one), redact_secret(two)
    text = json.dumps([red_one, red_two])
    for material in (CERT, KEY, TOKEN, CA, "CLIENT-KEY-MATERIAL", one["data"]["config"], two["data"]["config"]):
        assert material not in text
    assert red_one["data"]["server"] == SERVER and red_one["data"]["name"] == "workloads/dev"
    tls = red_one["data"]["config"]["tlsClientConfig"]
    assert tls["keyData"].startswith("<redacted sha256:") and tls["insecure"] is False
    assert red_two["data"]["config"]["bearerToken"].startswith("<redacted sha256:")
    assert red_one != red_two
    assert redact_secret(None) == {}


# --- cluster status and kind -----------------------------------------------------------------------

@pytest.mark.parametrize("status,expected", [
    ({}, False),
    ({"conditions": [{"type": "ControlPlaneInitialized", "status": "True"}]}, True),  # v1beta1
    ({"conditions": [{"type": "ControlPlaneInitialized", "status": "False"}]}, False),
    ({"initialization": {"controlPlaneInitialized": True}}, True),  # v1beta2
    ({"initialization": {"controlPlaneInitialized": False}, "conditions": []}, False),
    ({"deprecated": {"v1beta1": {"conditions": [{"type": "ControlPlaneInitialized", "status": "True"}]}}}, True),
    ({"v1beta2": {"conditions": [{"type": "ControlPlaneInitialized", "status": "True"}]}}, True),
    ({"conditions": [{"type": "Ready", "status": "True"}]}, False),
])
def test_control_plane_initialized_reads_both_api_versions(status, expected):
    assert control_plane_initialized({"status": status}) is expected


@pytest.mark.parametrize("spec,expected", [
    ({"infrastructureRef": {"kind": "OCIManagedCluster"}}, True),
    ({"controlPlaneRef": {"kind": "OCIManagedControlPlane", "apiGroup": "infrastructure.cluster.x-k8s.io"}}, True),
    ({"infrastructureRef": {"kind": "OCICluster"}, "controlPlaneRef": {"kind": "KubeadmControlPlane"}}, False),
    ({}, False),
])
def test_oke_detection(spec, expected):
    assert is_oke_cluster({"spec": spec}) is expected


@pytest.mark.parametrize("url,expected", [
    ("https://Kubernetes.Default.Svc/", "https://kubernetes.default.svc"),
    ("https://hub:443", "https://hub"),
    ("https://hub:6443/", "https://hub:6443"),
])
def test_normalise_server(url, expected):
    assert normalise_server(url) == expected


@pytest.mark.parametrize("value, expected", [
    ({"b": 1, "a": {"d": False, "c": "x"}}, '{"a":{"c":"x","d":false},"b":1}'),
    ({"bearerToken": "a&b<c>d"}, '{"bearerToken":"a\\u0026b\\u003cc\\u003ed"}'),
    ({"x": "é\u2028\u2029"}, '{"x":"é\\u2028\\u2029"}'),
])
def test_dump_config_writes_what_go_json_marshal_writes(value, expected):
    assert dump_config(value) == expected


# --- a Secret the Kyverno policy generated ---------------------------------------------------------

def _kyverno_generated(desired):
    """``desired`` as Kyverno's background controller stores it: managed-by overwritten, generate.* labels added.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go (ManageLabels), called before every create
    and update in pkg/background/generate/generator.go.
    """
    live = copy.deepcopy(desired)
    live["metadata"]["labels"].update({
        "app.kubernetes.io/managed-by": "kyverno",
        "generate.kyverno.io/policy-name": "multicluster-gitops-register-capi-clusters",
        "generate.kyverno.io/policy-namespace": "", "generate.kyverno.io/rule-name": "register-kubeadm-cluster",
        "generate.kyverno.io/trigger-version": "v1", "generate.kyverno.io/trigger-group": "",
        "generate.kyverno.io/trigger-kind": "Secret", "generate.kyverno.io/trigger-namespace": "workloads",
        "generate.kyverno.io/trigger-uid": "0a1b",
    })
    live["metadata"]["resourceVersion"] = "7"
    return live


def test_kyverno_labels_are_no_difference():
    """Kyverno's own labels (managed-by: kyverno, generate.kyverno.io/*) do not make a policy Secret differ.

    Upstream: kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go
    """
    desired = _desired({"env": "dev"})
    live = _kyverno_generated(desired)
    assert policy_secret_differences(desired, live) == []
    # the ordinary comparison would rewrite it, and Kyverno would write it back
    assert secret_differs(desired, live)


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda s: s["data"].update(config=base64.b64encode(b"{}").decode()), "data.config"),
    (lambda s: s["data"].update(project=base64.b64encode(b"p").decode()), "data.project"),
    (lambda s: s["metadata"]["labels"].pop("multicluster.gitops/registered"), "labels.multicluster.gitops/registered"),
    (lambda s: s["metadata"]["labels"].update(env="prod"), "labels.env"),
    (lambda s: s.update(type="kubernetes.io/generic"), "type"),
], ids=["config", "extra-key", "ownership-label", "allow-listed-label", "type"])
def test_policy_secret_differences_are_named(mutate, field):
    desired = _desired({"env": "dev"})
    live = _kyverno_generated(desired)
    mutate(live)
    assert policy_secret_differences(desired, live) == [field]
