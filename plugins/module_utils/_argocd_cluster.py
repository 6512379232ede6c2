# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Argo CD cluster Secret of a Cluster API cluster: pure functions, no I/O.

The same format is produced by the collection's Kyverno ClusterPolicy, so Secrets written by the
policy and by the ``argocd_cluster_secret`` module are byte-identical:

* name ``cluster-<namespace>.<cluster>`` (shortened with a hash past 63 characters, see :func:`secret_name`);
* labels ``argocd.argoproj.io/secret-type: cluster``, ``multicluster.gitops/registered: "true"`` (the ownership
  label both writers set, and the one the ApplicationSets and the module select on),
  ``multicluster.gitops/cluster-name``, ``multicluster.gitops/cluster-namespace`` plus the allow-listed labels of
  the CAPI Cluster (the fixed labels win over a Cluster label of the same key). The module adds
  ``app.kubernetes.io/managed-by: multicluster.gitops``; on a Secret the policy generates, Kyverno sets that label to
  ``kyverno`` and adds its ``generate.kyverno.io/*`` labels (see :data:`KYVERNO_LABEL_PREFIX`), so neither is a
  sign of registration;
* annotation ``multicluster.gitops/credential-mode`` plus the allow-listed annotations of the CAPI Cluster;
* ``type: Opaque`` and base64 ``data`` with ``name`` (``<namespace>/<cluster>``, unique on the hub, see
  :func:`argocd_cluster_name`), ``server`` and ``config`` (compact JSON, sorted keys), and, when the module is asked
  to, ``project``, ``namespaces`` and ``clusterResources``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ansible_collections.multicluster.gitops.plugins.module_utils._capi import is_oke as is_oke_cluster
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import InvalidInput
from ansible_collections.multicluster.gitops.plugins.module_utils._simple_yaml import read as read_simple_yaml

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR: Exception | None = None
    # libyaml's safe loader when PyYAML was built with it: parsing 1000 kubeconfigs drops from seconds to a fraction.
    _YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
except ImportError as e:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_YAML = False
    YAML_IMPORT_ERROR = e

__all__ = [
    "HAS_YAML",
    "YAML_IMPORT_ERROR",
    "MANAGED_BY",
    "LABEL_SECRET_TYPE",
    "LABEL_MANAGED_BY",
    "LABEL_REGISTERED",
    "REGISTERED",
    "LABEL_KYVERNO_POLICY",
    "KYVERNO_LABEL_PREFIX",
    "LABEL_CLUSTER_NAME",
    "LABEL_CLUSTER_NAMESPACE",
    "LABEL_CREDENTIAL_MODE",
    "ANNOTATION_CREDENTIAL_MODE",
    "ANNOTATION_OWNED_LABELS",
    "ANNOTATION_OWNED_ANNOTATIONS",
    "DEFAULT_LABEL_ALLOWLIST",
    "HUB_IN_CLUSTER_SERVER",
    "KubeconfigError",
    "Kubeconfig",
    "secret_name",
    "argocd_cluster_name",
    "policy_owner",
    "policy_secret_differences",
    "parse_kubeconfig",
    "kubeconfig_config",
    "service_account_config",
    "dump_config",
    "build_cluster_secret",
    "owned_keys_record",
    "recorded_keys",
    "with_owned_record",
    "secret_differs",
    "merge_for_update",
    "redact_secret",
    "normalise_server",
    "is_oke_cluster",
    "control_plane_initialized",
]

MANAGED_BY = "multicluster.gitops"
LABEL_SECRET_TYPE = "argocd.argoproj.io/secret-type"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
# The ownership label: "registered by multicluster.gitops". Both writers (module and Kyverno policy) set it; Kyverno
# overwrites app.kubernetes.io/managed-by on everything it generates, never this key.
LABEL_REGISTERED = "multicluster.gitops/registered"
REGISTERED = "true"
# Kyverno's background controller labels every generated resource (kyverno/kyverno @ v1.18.2 :
# pkg/background/common/labels.go ManageLabels, keys in pkg/background/common/constants.go).
KYVERNO_LABEL_PREFIX = "generate.kyverno.io/"
LABEL_KYVERNO_POLICY = "generate.kyverno.io/policy-name"
LABEL_CLUSTER_NAME = "multicluster.gitops/cluster-name"
LABEL_CLUSTER_NAMESPACE = "multicluster.gitops/cluster-namespace"
LABEL_CREDENTIAL_MODE = "multicluster.gitops/credential-mode"
ANNOTATION_CREDENTIAL_MODE = "multicluster.gitops/credential-mode"
# The record of the allow-listed keys the module copied from the CAPI Cluster onto the Secret (comma-separated, sorted).
# A key in the record that the Cluster no longer has (or the allowlist no longer names) is removed on the next write;
# a key others set on the Secret is never in the record, so it is left alone. See docs/faults-and-ownership.md.
ANNOTATION_OWNED_LABELS = "multicluster.gitops/owned-labels"
ANNOTATION_OWNED_ANNOTATIONS = "multicluster.gitops/owned-annotations"
_RECORDS = {"labels": ANNOTATION_OWNED_LABELS, "annotations": ANNOTATION_OWNED_ANNOTATIONS}
DEFAULT_LABEL_ALLOWLIST = ("env", "region", "tier")
HUB_IN_CLUSTER_SERVER = "https://kubernetes.default.svc"

_MAX_NAME = 63
_HASHED_PREFIX = 52
_TRAILING_SEPARATORS = re.compile(r"[-.]+$")
_CREDENTIAL_KEYS = ("bearerToken", "certData", "keyData", "caData", "password")


class KubeconfigError(InvalidInput):
    """A CAPI kubeconfig cannot be used; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Kubeconfig:
    """The parts of a kubeconfig's current context that a cluster registration needs."""

    server: str
    context: str
    ca_data: str
    cert_data: str | None = None
    key_data: str | None = None
    token: str | None = None
    insecure: bool = False
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def auth(self) -> str:
        return "client_certificate" if self.cert_data else "token"

    def sensitive_values(self) -> list[str]:
        """The secret strings of this kubeconfig (client key, token), encoded and decoded, for no_log masking.

        The client certificate and the CA are public and left out: every masked value costs Ansible a scan of
        every string of the result.
        """
        values: list[str] = []
        for value in (self.key_data, self.token):
            if value:
                values.append(value)
                decoded = _b64decode_text(value)
                if decoded:
                    values.append(decoded)
        return values


def secret_name(namespace: str, cluster: str) -> str:
    """Name of the Argo CD cluster Secret of CAPI Cluster ``namespace/cluster``.

    ``cluster-<namespace>.<cluster>``: a namespace never contains ``.``, so the first ``.`` separates the two and
    no two clusters share a name (``cluster-<namespace>-<cluster>`` would: ``a-b/c`` and ``a/b-c``). Past 63
    characters: its first 52 characters without trailing ``-`` or ``.``, then ``-`` and the first 10 hex digits of
    sha256(``<namespace>/<cluster>``).
    """
    name = f"cluster-{namespace}.{cluster}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(f"{namespace}/{cluster}".encode()).hexdigest()[:10]
    return f"{_TRAILING_SEPARATORS.sub('', name[:_HASHED_PREFIX])}-{digest}"


def argocd_cluster_name(namespace: str, cluster: str) -> str:
    """The Argo CD cluster name (``data.name``) of CAPI Cluster ``namespace/cluster``: ``<namespace>/<cluster>``.

    Unique on the hub, since CAPI Cluster names are unique per namespace. Argo CD refuses to resolve a destination
    name that two cluster Secrets share ("there are 2 clusters with the same name", argoproj/argo-cd @ v3.2.3 :
    util/argo/argo.go). The CAPI cluster name alone stays in label ``multicluster.gitops/cluster-name``.
    """
    return f"{namespace}/{cluster}"


def _b64decode_text(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _load_document(raw: str | bytes | Mapping[str, Any], base64_encoded: bool) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if base64_encoded:
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError, TypeError) as e:
            raise KubeconfigError("the kubeconfig Secret's data.value is not valid base64; "
                                  "CAPI writes it base64-encoded under data.value") from e
    if isinstance(raw, bytes):
        try:
            raw = raw.decode()
        except UnicodeDecodeError as e:
            raise KubeconfigError("the kubeconfig is not UTF-8 text") from e
    # The layout CAPI (client-go clientcmd) writes is read without PyYAML's constructor; anything else by PyYAML.
    doc = read_simple_yaml(raw)
    if doc is not None:
        return doc
    try:
        doc = yaml.load(raw, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        # The YAML error would quote the offending line, which may hold key material: keep only its position.
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise KubeconfigError(f"the kubeconfig is not valid YAML{where}") from None
    if not isinstance(doc, dict):
        raise KubeconfigError("the kubeconfig is not a YAML mapping (expected apiVersion, clusters, contexts, users)")
    return doc


def _named(doc: Mapping[str, Any], section: str, name: str, what: str) -> dict[str, Any]:
    entries = doc.get(section) or []
    if not isinstance(entries, list):
        raise KubeconfigError(f"the kubeconfig's '{section}' is not a list")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(what)
            if not isinstance(body, dict):
                raise KubeconfigError(f"the kubeconfig's {what} '{name}' has no '{what}' mapping")
            return body
    raise KubeconfigError(f"the kubeconfig's current context refers to {what} '{name}', "
                          f"which is not in its '{section}' list")


def parse_kubeconfig(raw: str | bytes | Mapping[str, Any], *, base64_encoded: bool = True,
                     allow_insecure: bool = False) -> Kubeconfig:
    """Read a CAPI kubeconfig (by default the base64 ``data.value`` of its Secret) into a :class:`Kubeconfig`.

    Only self-contained kubeconfigs are accepted: certificate data inline, a client certificate or a token,
    no exec plugin, TLS verified unless ``allow_insecure``. Raises :class:`KubeconfigError` otherwise; its
    message never contains key material.
    """
    doc = _load_document(raw, base64_encoded)
    context_name = doc.get("current-context")
    if not context_name:
        raise KubeconfigError("the kubeconfig has no current-context; "
                              "CAPI kubeconfigs set it to <cluster>-admin@<cluster>")
    context = _named(doc, "contexts", context_name, "context")
    cluster_name, user_name = context.get("cluster"), context.get("user")
    if not cluster_name or not user_name:
        raise KubeconfigError(f"the kubeconfig's context '{context_name}' must name both a cluster and a user")
    cluster = _named(doc, "clusters", cluster_name, "cluster")
    user = _named(doc, "users", user_name, "user")

    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith("https://"):
        raise KubeconfigError(f"the kubeconfig's cluster '{cluster_name}' needs an https:// server URL")
    insecure = bool(cluster.get("insecure-skip-tls-verify"))
    if insecure and not allow_insecure:
        raise KubeconfigError(f"the kubeconfig's cluster '{cluster_name}' sets insecure-skip-tls-verify; Argo CD "
                              "would not verify the workload API's certificate. Fix the kubeconfig, or set "
                              "allow_insecure: true to register it anyway")
    if cluster.get("certificate-authority") and not cluster.get("certificate-authority-data"):
        raise KubeconfigError(f"the kubeconfig's cluster '{cluster_name}' points to a CA file "
                              "(certificate-authority); Argo CD runs elsewhere and needs certificate-authority-data")
    ca_data = cluster.get("certificate-authority-data") or ""
    if not ca_data and not insecure:
        raise KubeconfigError(f"the kubeconfig's cluster '{cluster_name}' has no certificate-authority-data")
    if ca_data and _b64decode_text(ca_data) is None:
        raise KubeconfigError(f"the kubeconfig's cluster '{cluster_name}' has certificate-authority-data "
                              "that is not base64")

    if user.get("exec") or user.get("auth-provider"):
        plugin = "an exec plugin" if user.get("exec") else "an auth-provider plugin"
        raise KubeconfigError(f"the kubeconfig's user '{user_name}' gets its credentials from {plugin}, which "
                              "cannot run here or inside Argo CD. OKE clusters need credential_mode: "
                              "service_account (the module then creates a ServiceAccount token in the cluster)")
    for file_key in ("client-certificate", "client-key", "tokenFile"):
        if user.get(file_key) and not user.get(f"{file_key}-data"):
            raise KubeconfigError(f"the kubeconfig's user '{user_name}' points to a file ({file_key}); "
                                  "inline the content (client-certificate-data, client-key-data, token)")
    cert_data, key_data, token = user.get("client-certificate-data"), user.get("client-key-data"), user.get("token")
    if cert_data or key_data:
        if not (cert_data and key_data):
            raise KubeconfigError(f"the kubeconfig's user '{user_name}' needs both client-certificate-data "
                                  "and client-key-data")
        for key, value in (("client-certificate-data", cert_data), ("client-key-data", key_data)):
            if _b64decode_text(value) is None:
                raise KubeconfigError(f"the kubeconfig's user '{user_name}' has {key} that is not base64")
        return Kubeconfig(server=server, context=context_name, ca_data=ca_data, cert_data=cert_data,
                          key_data=key_data, insecure=insecure, document=doc)
    if token:
        return Kubeconfig(server=server, context=context_name, ca_data=ca_data, token=str(token),
                          insecure=insecure, document=doc)
    raise KubeconfigError(f"the kubeconfig's user '{user_name}' has neither a client certificate nor a token")


def _tls(ca_data: str, insecure: bool) -> dict[str, Any]:
    return {"caData": ca_data, "insecure": insecure}


def kubeconfig_config(kc: Kubeconfig) -> dict[str, Any]:
    """Argo CD ``config`` for credential mode ``kubeconfig``: the CAPI kubeconfig's own credentials."""
    if kc.cert_data:
        return {"tlsClientConfig": {**_tls(kc.ca_data, kc.insecure), "certData": kc.cert_data,
                                    "keyData": kc.key_data}}
    return {"bearerToken": kc.token, "tlsClientConfig": _tls(kc.ca_data, kc.insecure)}


def service_account_config(token: str, ca_data: str, *, insecure: bool = False) -> dict[str, Any]:
    """Argo CD ``config`` for credential mode ``service_account``: a ServiceAccount token of the workload cluster."""
    return {"bearerToken": token, "tlsClientConfig": _tls(ca_data, insecure)}


_GO_JSON_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029"))


def dump_config(config: Mapping[str, Any]) -> str:
    """What Go's json.Marshal (and so Kyverno's to_string) writes: compact, sorted keys, UTF-8 kept,
    and <, >, &, U+2028, U+2029 escaped."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_JSON_ESCAPES:
        text = text.replace(char, escaped)
    return text


def _allowed(source: Mapping[str, str] | None, allowlist: Iterable[str]) -> dict[str, str]:
    source = source or {}
    return {key: source[key] for key in allowlist if key in source}


def build_cluster_secret(cluster: Mapping[str, Any], kubeconfig: Kubeconfig, *, argocd_namespace: str = "argocd",
                         credential_mode: str = "kubeconfig", config: Mapping[str, Any] | None = None,
                         label_allowlist: Iterable[str] = DEFAULT_LABEL_ALLOWLIST,
                         annotation_allowlist: Iterable[str] = (), project: str | None = None,
                         namespaces: Iterable[str] | None = None,
                         cluster_resources: bool | None = None) -> dict[str, Any]:
    """The Argo CD cluster Secret of a CAPI Cluster object.

    ``config`` defaults to :func:`kubeconfig_config` of ``kubeconfig``; pass :func:`service_account_config`
    for credential mode ``service_account``. ``project``, ``namespaces`` and ``cluster_resources`` add the
    optional Argo CD keys (the Kyverno policy never sets them).
    """
    meta = cluster.get("metadata") or {}
    name, namespace = meta["name"], meta["namespace"]
    labels = _allowed(meta.get("labels"), label_allowlist)
    labels.update({
        LABEL_SECRET_TYPE: "cluster",
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_REGISTERED: REGISTERED,
        LABEL_CLUSTER_NAME: name,
        LABEL_CLUSTER_NAMESPACE: namespace,
    })
    annotations = _allowed(meta.get("annotations"), annotation_allowlist)
    annotations[ANNOTATION_CREDENTIAL_MODE] = credential_mode
    data = {
        "name": argocd_cluster_name(namespace, name),
        "server": kubeconfig.server,
        "config": dump_config(config if config is not None else kubeconfig_config(kubeconfig)),
    }
    if project:
        data["project"] = project
    if namespaces:
        data["namespaces"] = ",".join(namespaces)
    if cluster_resources is not None:
        data["clusterResources"] = "true" if cluster_resources else "false"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name(namespace, name), "namespace": argocd_namespace,
                     "labels": labels, "annotations": annotations},
        "type": "Opaque",
        "data": {key: _b64(value) for key, value in data.items()},
    }


def owned_keys_record(keys: Iterable[str]) -> str:
    """The value of an owned-keys annotation: the keys, sorted, comma-separated (``""`` for none)."""
    return ",".join(sorted(set(keys)))


def recorded_keys(obj: Mapping[str, Any] | None, annotation: str) -> set[str] | None:
    """The keys recorded in ``obj``'s owned-keys ``annotation``; None when ``obj`` has no such record."""
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    if annotation not in annotations:
        return None
    return {k.strip() for k in str(annotations[annotation] or "").split(",") if k.strip()}


def with_owned_record(desired: Mapping[str, Any], *, label_allowlist: Iterable[str] = DEFAULT_LABEL_ALLOWLIST,
                      annotation_allowlist: Iterable[str] = ()) -> dict[str, Any]:
    """``desired`` plus the record of the allow-listed labels and annotations it copies from the CAPI Cluster
    (annotations ``multicluster.gitops/owned-labels`` and ``multicluster.gitops/owned-annotations``).

    The Kyverno policy writes no record: the record is the module's bookkeeping, not part of the format both
    writers share (:func:`policy_secret_differences` leaves it out)."""
    meta = desired["metadata"]
    annotations = dict(meta.get("annotations") or {})
    for kind, allowlist in (("labels", label_allowlist), ("annotations", annotation_allowlist)):
        allowed = set(allowlist)
        annotations[_RECORDS[kind]] = owned_keys_record(k for k in meta.get(kind) or {} if k in allowed)
    return {**desired, "metadata": {**meta, "annotations": annotations}}


def _owned_keys(desired: Mapping[str, str], allowlist: Iterable[str], recorded: set[str] | None) -> set[str]:
    """The keys the module owns on a live Secret: those it writes now, and those it wrote before. Before is the
    record on the live Secret; a Secret without a record (written by a version without one) is taken to hold the
    allow-listed keys, as that version did."""
    return set(desired) | (set(allowlist) if recorded is None else recorded)


def secret_differs(desired: Mapping[str, Any], live: Mapping[str, Any] | None, *,
                   label_allowlist: Iterable[str] = DEFAULT_LABEL_ALLOWLIST,
                   annotation_allowlist: Iterable[str] = ()) -> bool:
    """Whether ``live`` must be written to become ``desired``.

    Compared: type, data (exactly), and the labels and annotations the module owns (its fixed keys, the keys it
    copies now and those its record on ``live`` says it copied before, see :func:`with_owned_record`). Keys that
    others add (Argo CD, Kyverno, kubectl), allow-listed or not, are left alone.
    """
    if live is None:
        return True
    if (live.get("type") or "Opaque") != desired["type"] or (live.get("data") or {}) != desired["data"]:
        return True
    dmeta, lmeta = desired["metadata"], live.get("metadata") or {}
    for kind, allowlist in (("labels", label_allowlist), ("annotations", annotation_allowlist)):
        want, have = dmeta.get(kind) or {}, lmeta.get(kind) or {}
        for key in _owned_keys(want, allowlist, recorded_keys(live, _RECORDS[kind])):
            if want.get(key) != have.get(key):
                return True
    return False


def merge_for_update(desired: Mapping[str, Any], live: Mapping[str, Any], *,
                     label_allowlist: Iterable[str] = DEFAULT_LABEL_ALLOWLIST,
                     annotation_allowlist: Iterable[str] = ()) -> dict[str, Any]:
    """A full object for PUT: ``desired`` plus the live object's foreign labels/annotations and resourceVersion.

    Owned keys (see :func:`secret_differs`) that ``desired`` no longer has are dropped."""
    dmeta, lmeta = desired["metadata"], live.get("metadata") or {}
    meta: dict[str, Any] = {"name": dmeta["name"], "namespace": dmeta["namespace"]}
    if lmeta.get("resourceVersion"):
        meta["resourceVersion"] = lmeta["resourceVersion"]
    for kind, allowlist in (("labels", label_allowlist), ("annotations", annotation_allowlist)):
        owned = _owned_keys(dmeta.get(kind) or {}, allowlist, recorded_keys(live, _RECORDS[kind]))
        merged = {k: v for k, v in (lmeta.get(kind) or {}).items() if k not in owned}
        merged.update(dmeta.get(kind) or {})
        meta[kind] = merged
    return {**desired, "metadata": meta}


def policy_owner(live: Mapping[str, Any] | None) -> str | None:
    """The Kyverno policy that generated ``live`` (its ``generate.kyverno.io/policy-name`` label), if any."""
    labels = ((live or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(LABEL_KYVERNO_POLICY) or None


def policy_secret_differences(desired: Mapping[str, Any], live: Mapping[str, Any], *,
                              label_allowlist: Iterable[str] = DEFAULT_LABEL_ALLOWLIST,
                              annotation_allowlist: Iterable[str] = ()) -> list[str]:
    """What differs between a Secret the Kyverno policy generated (``live``) and the one the module would write.

    Compared byte for byte: ``type``, every ``data`` key, and the labels and annotations both writers own (their
    fixed keys and the allow-listed keys). Not compared: ``app.kubernetes.io/managed-by`` and the
    ``generate.kyverno.io/*`` labels, which Kyverno sets on everything it generates, and the module's owned-keys
    record, which the policy does not write. Returns the differing fields
    (``data.config``, ``labels.env``, ...), never their values; ``[]`` when the two agree.
    """
    out: list[str] = []
    if (live.get("type") or "Opaque") != desired["type"]:
        out.append("type")
    want_data, have_data = desired.get("data") or {}, live.get("data") or {}
    out += [f"data.{k}" for k in sorted(set(want_data) | set(have_data)) if want_data.get(k) != have_data.get(k)]
    dmeta, lmeta = desired["metadata"], live.get("metadata") or {}
    for kind, allowlist in (("labels", label_allowlist), ("annotations", annotation_allowlist)):
        want, have = dmeta.get(kind) or {}, lmeta.get(kind) or {}
        keys = {k for k in _owned_keys(want, allowlist, None)
                if k != LABEL_MANAGED_BY and not k.startswith(KYVERNO_LABEL_PREFIX) and k not in _RECORDS.values()}
        out += [f"{kind}.{k}" for k in sorted(keys) if want.get(k) != have.get(k)]
    return out


def _fingerprint(value: Any) -> str:
    return "<redacted sha256:" + hashlib.sha256(str(value).encode()).hexdigest()[:8] + ">"


def _redact_config(text: str) -> Any:
    try:
        config = json.loads(text)
    except ValueError:
        return _fingerprint(text)
    if not isinstance(config, dict):
        return _fingerprint(text)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (_fingerprint(v) if k in _CREDENTIAL_KEYS and v else walk(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(config)


def redact_secret(secret: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of a cluster Secret for diffs and results: data decoded, every credential replaced by a fingerprint.

    The fingerprint (8 hex digits of sha256) shows that a credential changed without showing it.
    """
    if not secret:
        return {}
    meta = secret.get("metadata") or {}
    out: dict[str, Any] = {
        "metadata": {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if meta.get(k)},
        "type": secret.get("type"),
        "data": {},
    }
    for key, value in sorted((secret.get("data") or {}).items()):
        text = _b64decode_text(value) if isinstance(value, str) else None
        if text is None:
            out["data"][key] = _fingerprint(value)
        elif key == "config":
            out["data"][key] = _redact_config(text)
        else:
            out["data"][key] = text
    return out


def normalise_server(url: str) -> str:
    """A server URL in a comparable form: lower-case, no trailing slash, no default :443."""
    url = url.strip().lower().rstrip("/")
    if url.startswith("https://") and url.endswith(":443"):
        url = url[:-4]
    return url


def _condition_true(conditions: Any, kind: str) -> bool:
    if not isinstance(conditions, list):
        return False
    return any(isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True" for c in conditions)


def control_plane_initialized(cluster: Mapping[str, Any]) -> bool:
    """Whether CAPI reports the control plane initialized, reading both the v1beta1 and the v1beta2 shape.

    v1beta2: ``status.initialization.controlPlaneInitialized`` (or condition ``ControlPlaneInitialized`` in
    ``status.conditions``, or in ``status.deprecated.v1beta1.conditions``); v1beta1: condition
    ``ControlPlaneInitialized`` in ``status.conditions`` (or in ``status.v1beta2.conditions``).
    """
    status = cluster.get("status") or {}
    init = status.get("initialization")
    if isinstance(init, dict) and init.get("controlPlaneInitialized") is True:
        return True
    deprecated = ((status.get("deprecated") or {}).get("v1beta1") or {}).get("conditions")
    v1beta2 = (status.get("v1beta2") or {}).get("conditions")
    return any(_condition_true(c, "ControlPlaneInitialized") for c in (status.get("conditions"), deprecated, v1beta2))
