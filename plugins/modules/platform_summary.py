#!/usr/bin/python
# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: platform_summary
short_description: Summarise the platform as the hub sees it - clusters, registration, ApplicationSets
version_added: 0.1.0
description:
  - Lists the hub's Cluster API C(Cluster) objects, the Argo CD cluster Secrets and the ApplicationSets
    (one request each) and returns one row per cluster - kind, phase, whether it is registered in Argo CD
    and with which credential mode, and which ApplicationSets target it.
  - An ApplicationSet targets a cluster when a C(clusters) generator (top level, or inside a C(matrix) or
    C(merge) generator) has a selector matching the labels of the cluster's Argo CD Secret, as Argo CD's
    cluster generator decides.
  - Also returns the summary as text table lines and as a Mermaid flowchart (hub, clusters, ApplicationSets).
author: multicluster.gitops maintainers (@multicluster-gitops)
extends_documentation_fragment:
  - multicluster.gitops.k8s_auth
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: The module only reads.
options:
  argocd_namespace:
    description: Namespace of Argo CD, its cluster Secrets and its ApplicationSets.
    type: str
    default: argocd
  label_selector:
    description: Summarise only the CAPI Clusters matching this label selector.
    type: str
  hub_name:
    description: Name of the hub in the diagram.
    type: str
    default: hub
"""

EXAMPLES = r"""
- name: Summarise the platform
  multicluster.gitops.platform_summary:
    kubeconfig: "{{ mcg_hub_kubeconfig }}"
  register: summary

- name: Show it
  ansible.builtin.debug:
    msg: "{{ summary.table }}"
"""

RETURN = r"""
clusters:
  description: One row per CAPI cluster, sorted by namespace and name.
  returned: always
  type: list
  elements: dict
  contains:
    cluster: {description: Cluster name., type: str}
    namespace: {description: Cluster namespace., type: str}
    kind: {description: "C(self-managed), C(oke), or the infrastructure kind of another provider.", type: str}
    phase: {description: The Cluster's C(status.phase)., type: str}
    labels: {description: The Cluster's labels., type: dict}
    registered: {description: Whether an Argo CD cluster Secret exists for it., type: bool}
    argocd_secret: {description: Name of that Secret., type: str}
    credential_mode:
      description:
        - How Argo CD authenticates to the cluster, from the annotation C(multicluster.gitops/credential-mode) of its
          Secret - C(kubeconfig) (the CAPI kubeconfig's credentials) or C(service_account) (a ServiceAccount token
          of the workload cluster, the mode OKE clusters need); C(unknown) without the annotation, null when not
          registered.
      type: str
    server: {description: API server URL registered in Argo CD., type: str}
    applicationsets: {description: Names of the ApplicationSets that target it., type: list, elements: str}
applicationsets:
  description: Names of every ApplicationSet in O(argocd_namespace).
  returned: always
  type: list
  elements: str
table:
  description: The summary as text lines (cluster, kind, phase, in Argo CD, credentials, ApplicationSets).
  returned: always
  type: list
  elements: str
mermaid:
  description: A Mermaid flowchart of hub, clusters and ApplicationSets.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.multicluster.gitops.plugins.module_utils._errors import CollectionError
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import (
    HAS_URLLIB3, K8S_AUTH_ARG_SPEC, URLLIB3_IMPORT_ERROR, kube_client)
from ansible_collections.multicluster.gitops.plugins.module_utils._summary import summarize, to_mermaid, to_table


def argspec() -> dict:
    spec = dict(K8S_AUTH_ARG_SPEC)
    spec.update(
        argocd_namespace=dict(type="str", default="argocd"),
        label_selector=dict(type="str"),
        hub_name=dict(type="str", default="hub"),
    )
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    if not HAS_URLLIB3:
        module.fail_json(msg=missing_required_lib("urllib3"), exception=str(URLLIB3_IMPORT_ERROR))
    params = module.params
    try:
        summary = summarize(kube_client(params), argocd_namespace=params["argocd_namespace"],
                            label_selector=params["label_selector"])
    except CollectionError as e:
        module.fail_json(**e.to_fail_kwargs())
    module.exit_json(changed=False, table=to_table(summary), mermaid=to_mermaid(summary, hub_name=params["hub_name"]),
                     **summary)


if __name__ == "__main__":
    main()
