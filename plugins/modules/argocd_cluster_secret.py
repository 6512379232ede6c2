#!/usr/bin/python
# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: argocd_cluster_secret
short_description: Register Cluster API clusters in the hub's Argo CD
version_added: 0.1.0
description:
  - Writes one Argo CD cluster Secret (label C(argocd.argoproj.io/secret-type=cluster)) per Cluster API cluster,
    in the format the collection's Kyverno policy also writes, so both produce byte-identical Secrets.
  - Every Secret of the collection, whoever wrote it, carries the label C(multicluster.gitops/registered=true)
    (the ApplicationSets select on it). The Argo CD cluster name is C(<namespace>/<cluster>), unique on the hub;
    the Secret is C(cluster-<namespace>.<cluster>).
  - A Secret the Kyverno policy generated (label C(generate.kyverno.io/policy-name)) is never written, relabelled
    or deleted; its result is C(skipped) with reason C(owned by the policy), and says whether it is identical to
    what the module would write (check mode shows the difference as a diff).
  - Reads the hub with one LIST per kind (CAPI Clusters, CAPI kubeconfig Secrets, managed Argo CD cluster
    Secrets) and writes only the Secrets that differ; a re-run with nothing to do makes no write.
  - Only clusters whose control plane is initialized and whose C(<cluster>-kubeconfig) Secret exists are
    registered; the others are reported C(pending), not failed.
  - One cluster failing (malformed kubeconfig, unreachable workload API) does not stop the others; the task
    fails at the end and names each failure unless O(tolerate_failures=true).
  - The hub itself (C(https://kubernetes.default.svc), the URL this module talks to, and O(hub_server)) is never
    registered.
author: multicluster.gitops maintainers (@multicluster-gitops)
extends_documentation_fragment:
  - multicluster.gitops.k8s_auth
attributes:
  check_mode:
    support: full
    description: Writes are sent with server-side C(dryRun=All); nothing is stored, in the hub or the workload clusters.
  diff_mode:
    support: full
    description: Shows each Secret before and after with every credential replaced by a short sha256 fingerprint.
options:
  name:
    description: One CAPI Cluster to register. Needs O(namespace).
    type: str
  namespace:
    description:
      - Namespace of the CAPI Cluster O(name); with O(label_selector) or alone, limits the run to this namespace.
      - Without O(name), O(clusters) or O(label_selector), every CAPI Cluster in this namespace (or, when unset,
        in every namespace) is selected.
    type: str
  clusters:
    description: A list of CAPI Clusters to register.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the CAPI Cluster.
        type: str
        required: true
      namespace:
        description: Namespace of the CAPI Cluster.
        type: str
        required: true
  label_selector:
    description: Select every CAPI Cluster matching this label selector (in O(namespace), or in every namespace).
    type: str
  state:
    description: C(present) registers the selected clusters; C(absent) removes their managed Argo CD Secrets.
    type: str
    choices: [present, absent]
    default: present
  credential_mode:
    description:
      - How Argo CD authenticates to a workload cluster.
      - C(kubeconfig) copies the client certificate (or token) of the CAPI kubeconfig, as the Kyverno policy does.
      - C(service_account) uses the CAPI kubeconfig only to create ServiceAccount C(kube-system/argocd-manager),
        ClusterRole C(argocd-manager-role), ClusterRoleBinding C(argocd-manager-role-binding) and token Secret
        C(kube-system/argocd-manager-token) in the workload cluster, and registers that token. A re-run checks
        the token against the workload API and issues a new one if it was revoked. The CAPI Cluster is labelled
        C(multicluster.gitops/credential-mode=service_account) so the Kyverno policy leaves it to this module.
      - C(auto) picks C(service_account) for OKE clusters (their kubeconfig token expires within minutes) and for
        CAPI Clusters already labelled C(multicluster.gitops/credential-mode=service_account), else C(kubeconfig).
    type: str
    choices: [auto, kubeconfig, service_account]
    default: auto
  service_account_rules:
    description:
      - Rules of the ClusterRole C(argocd-manager-role) in credential mode C(service_account), as in a Kubernetes
        ClusterRole (C(apiGroups), C(resources), C(verbs), C(nonResourceURLs)).
      - The default grants everything, like C(argocd cluster add).
    type: list
    elements: dict
  label_allowlist:
    description:
      - Labels of the CAPI Cluster copied to the Argo CD Secret (for ApplicationSet cluster generators).
      - The keys copied are recorded on the Secret (annotation C(multicluster.gitops/owned-labels)); a recorded key
        the Cluster or this list no longer has is removed on the next run. Keys others set on the Secret are not in
        the record and are never touched.
    type: list
    elements: str
    default: [env, region, tier]
  annotation_allowlist:
    description:
      - Annotations of the CAPI Cluster copied to the Argo CD Secret, recorded and removed like O(label_allowlist)
        (annotation C(multicluster.gitops/owned-annotations)).
    type: list
    elements: str
    default: []
  project:
    description: Argo CD project the clusters are scoped to (key C(project)).
    type: str
  namespaces:
    description: Namespaces Argo CD may manage in the clusters (key C(namespaces)); all when unset.
    type: list
    elements: str
  cluster_resources:
    description:
      - Whether Argo CD may manage cluster-scoped resources when O(namespaces) is set (key C(clusterResources)).
    type: bool
  argocd_namespace:
    description: Namespace of Argo CD on the hub.
    type: str
    default: argocd
  hub_server:
    description: Further URLs of the hub's API server that must never be registered.
    type: list
    elements: str
    default: []
  prune:
    description:
      - With O(state=present), remove managed Argo CD cluster Secrets
        (label C(multicluster.gitops/registered=true)) whose CAPI Cluster no longer exists, in O(namespace) or, when unset, in every namespace.
      - A Secret without that label, or one the Kyverno policy generated, is never removed.
    type: bool
    default: false
  tolerate_failures:
    description: Succeed even if some clusters failed; their results say why.
    type: bool
    default: false
  allow_insecure:
    description: Register kubeconfigs that set C(insecure-skip-tls-verify) (refused by default).
    type: bool
    default: false
  token_timeout:
    description: Seconds to wait for the workload cluster's token controller to fill a new token Secret.
    type: float
    default: 10
  workload_timeout:
    description: Timeout in seconds of each request to a workload cluster's API.
    type: float
    default: 10
  parallel:
    description:
      - Clusters handled at the same time when writing to the hub, and workload clusters handled at the same time in
        credential mode C(service_account).
    type: int
    default: 8
  report:
    description:
      - Which clusters RV(clusters) lists. C(changes) lists every cluster but the C(unchanged) ones (created,
        updated, removed, pending, skipped, failed), so a run over a large fleet with nothing to do returns only
        RV(summary); C(all) lists every selected (or pruned) cluster.
      - RV(summary) always counts every cluster.
    type: str
    choices: [changes, all]
    default: changes
requirements:
  - urllib3
  - PyYAML
  - kubernetes >= 33, only for what the collection's own kubeconfig reader leaves to it (see the notes on connection
    settings)
notes:
  - Key material (client keys, tokens, the kubeconfigs) never appears in results, diffs or logs.
  - With O(state=absent) the ServiceAccount objects in a workload cluster are kept; delete the token Secret there to
    revoke the token.
seealso:
  - name: Argo CD declarative cluster Secrets
    description: The Secret layout (labels, C(name), C(server), C(config)) this module writes.
    link: https://argo-cd.readthedocs.io/en/stable/operator-manual/declarative-setup/#clusters
  - module: multicluster.gitops.capi_cluster_wait
"""

EXAMPLES = r"""
- name: Register every CAPI cluster of the hub
  multicluster.gitops.argocd_cluster_secret:
    kubeconfig: "{{ mcg_hub_kubeconfig }}"
    prune: true

- name: Register one kubeadm cluster with its CAPI client certificate
  multicluster.gitops.argocd_cluster_secret:
    name: dev-fra-1
    namespace: workloads
    credential_mode: kubeconfig

- name: Register the OKE clusters of team-a with a ServiceAccount token, limited to two namespaces
  multicluster.gitops.argocd_cluster_secret:
    namespace: team-a
    label_selector: provider=oke
    credential_mode: service_account
    project: team-a
    namespaces: [team-a-dev, team-a-prod]
    cluster_resources: false

- name: Unregister a cluster
  multicluster.gitops.argocd_cluster_secret:
    name: dev-fra-1
    namespace: workloads
    state: absent
"""

RETURN = r"""
clusters:
  description:
    - One entry per selected (or pruned) cluster whose action is not C(unchanged) (O(report=changes), the default),
      or per selected (or pruned) cluster (O(report=all)).
  returned: always
  type: list
  elements: dict
  contains:
    cluster:
      description: Name of the CAPI Cluster.
      type: str
      sample: dev-fra-1
    namespace:
      description: Namespace of the CAPI Cluster.
      type: str
      sample: workloads
    secret:
      description: Name of the Argo CD cluster Secret.
      type: str
      sample: cluster-workloads.dev-fra-1
    action:
      description: What happened.
      type: str
      choices: [created, updated, unchanged, pending, removed, skipped, failed]
    reason:
      description: Why, in words; for C(failed), what to fix.
      type: str
      sample: the control plane is not initialized yet
    credential_mode:
      description: C(kubeconfig) or C(service_account); null when the CAPI Cluster was not found.
      type: str
      sample: kubeconfig
summary:
  description: Number of clusters per action, of every selected (or pruned) cluster whatever O(report) says.
  returned: always
  type: dict
  sample: {created: 2, updated: 0, unchanged: 97, pending: 1, removed: 0, skipped: 0, failed: 0}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_cluster import HAS_YAML, YAML_IMPORT_ERROR
from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_registration import (
    Options,
    Registrar,
    iter_failures,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import CollectionError
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import (
    HAS_URLLIB3,
    K8S_AUTH_ARG_SPEC,
    URLLIB3_IMPORT_ERROR,
    kube_client,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._no_log import Masker

# Ansible masks no_log values by trying each on every string of the result (strings x values); past this many
# values the module's own one-pass Masker does it alone.
ANSIBLE_NO_LOG_MAX = 256


def argspec() -> dict:
    spec = {key: dict(value) for key, value in K8S_AUTH_ARG_SPEC.items()}
    spec.update(
        name={"type": "str"},
        namespace={"type": "str"},
        clusters={"type": "list", "elements": "dict", "options": {
            "name": {"type": "str", "required": True},
            "namespace": {"type": "str", "required": True},
        }},
        label_selector={"type": "str"},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        credential_mode={"type": "str", "choices": ["auto", "kubeconfig", "service_account"], "default": "auto"},
        service_account_rules={"type": "list", "elements": "dict"},
        label_allowlist={"type": "list", "elements": "str", "default": ["env", "region", "tier"]},
        annotation_allowlist={"type": "list", "elements": "str", "default": []},
        project={"type": "str"},
        namespaces={"type": "list", "elements": "str"},
        cluster_resources={"type": "bool"},
        argocd_namespace={"type": "str", "default": "argocd"},
        hub_server={"type": "list", "elements": "str", "default": []},
        prune={"type": "bool", "default": False},
        tolerate_failures={"type": "bool", "default": False},
        allow_insecure={"type": "bool", "default": False},
        token_timeout={"type": "float", "default": 10},
        workload_timeout={"type": "float", "default": 10},
        parallel={"type": "int", "default": 8},
        report={"type": "str", "choices": ["changes", "all"], "default": "changes"},
    )
    return spec


MUTUALLY_EXCLUSIVE = [("name", "clusters"), ("name", "label_selector"), ("clusters", "label_selector"),
                      ("clusters", "namespace")]
REQUIRED_BY = {"name": ("namespace",)}


def main() -> None:
    module = AnsibleModule(argument_spec=argspec(), mutually_exclusive=MUTUALLY_EXCLUSIVE, required_by=REQUIRED_BY,
                           supports_check_mode=True)
    if not HAS_YAML:  # checked first: kubeconfigs are YAML
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=str(YAML_IMPORT_ERROR))
    if not HAS_URLLIB3:
        module.fail_json(msg=missing_required_lib("urllib3"), exception=str(URLLIB3_IMPORT_ERROR))
    try:
        registrar = Registrar(kube_client(module.params), Options.from_params(module.params),
                              check_mode=module.check_mode)
        outcome = registrar.run()
    except CollectionError as e:
        module.fail_json(**e.to_fail_kwargs())
    mask = Masker(outcome.no_log_values)
    if len(outcome.no_log_values) <= ANSIBLE_NO_LOG_MAX:
        module.no_log_values.update(outcome.no_log_values)
    for warning in outcome.warnings:
        module.warn(mask.text(warning))
    result = {"changed": outcome.changed, "clusters": [r.as_dict() for r in outcome.reported(module.params["report"])],
              "summary": outcome.summary()}
    if module._diff:
        result["diff"] = outcome.diffs
    result = mask(result)
    failures = iter_failures(outcome.results)
    if failures and not module.params["tolerate_failures"]:
        module.fail_json(msg=mask.text(f"{len(failures)} of {len(outcome.results)} clusters failed: "
                                       + "; ".join(failures)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
