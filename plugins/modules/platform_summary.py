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
  - With O(dest), also writes them into that directory on the host the module runs on - C(summary.json)
    (clusters, ApplicationSets and O(engines)) and C(summary.md) (the flowchart) - rewriting only a file whose
    content differs, so a run that changes nothing on the hub reports no change.
author: multicluster.gitops maintainers (@multicluster-gitops)
extends_documentation_fragment:
  - multicluster.gitops.k8s_auth
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads the hub; in check mode it writes no file and says which files it would write.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: The content of each file of O(dest) before and after.
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
  dest:
    description:
      - Directory to write C(summary.json) and C(summary.md) into; created (mode C(0755)) when missing, files mode
        C(0644).
      - Without it no file is written.
    type: path
  engines:
    description: Which engines ran the platform, written as the C(engines) key of C(summary.json).
    type: dict
    default: {}
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
files:
  description: Path of each file of O(dest) that was written (or would be, in check mode).
  returned: when O(dest) is set
  type: list
  elements: str
"""

import json
import os
import tempfile

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
        dest=dict(type="path"),
        engines=dict(type="dict", default={}),
    )
    return spec


def summary_files(summary: dict, mermaid: str, engines: dict) -> dict[str, str]:
    """Name and content of each file the summary is written to."""
    doc = {"clusters": summary["clusters"], "applicationsets": summary["applicationsets"], "engines": engines}
    return {
        "summary.json": json.dumps(doc, indent=4, sort_keys=True, separators=(",", ": ")) + "\n",
        "summary.md": f"# Platform\n\n```mermaid\n{mermaid}```\n",
    }


def write_files(module: AnsibleModule, dest: str, files: dict[str, str]) -> tuple[list[str], dict]:
    """Write each file whose content differs (atomically); returns the paths written and the diff."""
    written, before, after = [], {}, {}
    for name, content in files.items():
        path = os.path.join(dest, name)
        try:
            with open(path, encoding="utf-8") as handle:
                current = handle.read()
        except FileNotFoundError:
            current = None
        if current == content:
            continue
        written.append(path)
        before[name], after[name] = current or "", content
        if module.check_mode:
            continue
        os.makedirs(dest, mode=0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(tmp, 0o644)
        module.atomic_move(tmp, path)
    return written, {"before": before, "after": after}


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
    mermaid = to_mermaid(summary, hub_name=params["hub_name"])
    result = {"changed": False, "table": to_table(summary), "mermaid": mermaid, **summary}
    if params["dest"]:
        try:
            written, diff = write_files(module, params["dest"], summary_files(summary, mermaid, params["engines"]))
        except OSError as e:
            module.fail_json(msg=f"Cannot write the summary into {params['dest']} (dest): {e}", **result)
        result.update(changed=bool(written), files=written)
        if module._diff and written:
            result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
