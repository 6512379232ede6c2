#!/usr/bin/python
# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: capi_cluster_wait
short_description: Wait until Cluster API workload clusters are ready, failing fast when one fails
version_added: 0.1.0
description:
  - Waits for one Cluster API C(Cluster) (O(name)), a list (O(clusters)), or every C(Cluster) matching
    O(label_selector), all at once, within one O(timeout) for the whole call.
  - Reads the server's preferred version of C(cluster.x-k8s.io) (one request) and understands both status
    shapes, C(v1beta1) (C(status.phase), C(infrastructureReady), C(controlPlaneReady), conditions with a
    severity) and C(v1beta2) (C(status.initialization), conditions C(Available), C(ControlPlaneAvailable),
    C(WorkersAvailable), ...).
  - A cluster is ready when it reached O(wait_for) and its C(<cluster>-kubeconfig) Secret exists.
  - Lists Clusters and Secrets once, then watches both from the list's resourceVersion; no polling.
  - Fails as soon as one cluster is in phase C(Failed), reports a failure condition (see O(fail_fast)), is
    being deleted, or was deleted during the wait. The message names each such cluster with its phase and
    every false condition with reason and message. A timeout names each cluster still waiting the same way.
  - With O(stop_on_failure=false) a failed cluster ends nothing; the module waits for the others and returns
    without failing, listing the ready clusters in RV(ready_clusters) and the failed ones (and, at the timeout,
    those still waiting) with their message in RV(failed_clusters), so the caller can go on with the ready ones
    and fail afterwards.
  - Prints each cluster's phase and condition changes while it waits (one line per change, as it happens), and
    a heartbeat line every O(heartbeat) seconds while nothing changes; see C(docs/readiness.md).
author: multicluster.gitops maintainers (@multicluster-gitops)
extends_documentation_fragment:
  - multicluster.gitops.k8s_auth
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports every cluster's current state and waits for nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: The module changes nothing.
options:
  name:
    description: Name of one Cluster to wait for.
    type: str
  namespace:
    description:
      - Namespace of O(name), default namespace of O(clusters) entries, and the namespace searched with
        O(label_selector) (all namespaces when unset).
      - Defaults to C(default) for O(name) and O(clusters).
    type: str
  clusters:
    description: Several Clusters to wait for concurrently.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the Cluster.
        type: str
        required: true
      namespace:
        description: Its namespace; defaults to O(namespace), then C(default).
        type: str
  label_selector:
    description:
      - Wait for every Cluster matching this label selector (for example C(env=prod)), including those created
        during the wait. When none matches, the module returns at once with a warning.
    type: str
  wait_for:
    description:
      - The milestone to wait for; each includes the earlier ones, and every one also requires the
        C(<cluster>-kubeconfig) Secret.
      - C(control_plane_initialized) - infrastructure provisioned and the first control plane node answers
        (C(ControlPlaneInitialized)); enough to read the kubeconfig and register the cluster.
      - C(control_plane_ready) - the control plane is ready (v1beta1 C(ControlPlaneReady)) or available
        (v1beta2 C(ControlPlaneAvailable)).
      - C(available) - the cluster's summary condition is true (v1beta1 C(Ready), v1beta2 C(Available), which
        also covers workers and the remote connection probe).
      - C(workers_ready) - in addition C(WorkersAvailable) is true and, in v1beta2, every desired worker is
        available. A v1beta1 object without C(status.v1beta2) has no worker information; C(Ready) then decides.
    type: str
    choices: [control_plane_initialized, control_plane_ready, available, workers_ready]
    default: available
  timeout:
    description: Seconds to wait for all clusters together.
    type: int
    default: 1800
  fail_fast:
    description:
      - Stop at once when a cluster reports a failure condition - v1beta1 C(failureReason)/C(failureMessage) or a
        condition C(False) with severity C(Error) and a reason ending in C(Failed); v1beta2 the same fields and
        conditions under C(status.deprecated.v1beta1), or C(InfrastructureReady), C(ControlPlaneInitialized) or
        C(ControlPlaneAvailable) C(False) with a reason ending in C(Failed).
      - When V(false), only phase C(Failed), deletion, or the timeout end the wait early, so a provider that
        retries after such a failure gets the time it needs.
    type: bool
    default: true
  stop_on_failure:
    description:
      - V(true) ends the wait, failing the task, as soon as one cluster failed or was deleted (see O(fail_fast)),
        and fails it at the timeout.
      - V(false) waits for the other clusters until each is ready or failed, or the timeout; the task then
        succeeds and RV(failed_clusters) names every cluster that is not ready, with the reason. A warning says so.
    type: bool
    default: true
  heartbeat:
    description:
      - While nothing changes, print one line every this many seconds with the number of clusters ready and
        pending and the first pending names (through the action plugin, between its progress rounds).
      - V(0) disables the heartbeat; changes are still printed as they happen.
    type: int
    default: 30
  session:
    description:
      - Set by the module's action plugin between the rounds of one wait (what was already shown, time spent).
        Leave unset.
    type: dict
notes:
  - The wait needs C(get), C(list) and C(watch) on C(clusters.cluster.x-k8s.io) and C(secrets) in the namespaces
    concerned. Secret data is read only to learn which Secrets exist; it never appears in the result.
seealso:
  - name: Readiness of workload clusters
    description: What the module prints during a wait, what counts as terminal, and measured figures.
    link: https://github.com/multicluster/gitops/blob/main/docs/readiness.md
"""

EXAMPLES = r"""
- name: Wait for the workload cluster prod-1 to be available
  multicluster.gitops.capi_cluster_wait:
    name: prod-1
    namespace: capi-workloads
    timeout: 1800

- name: Wait for two clusters' control planes, e.g. before registering them in Argo CD
  multicluster.gitops.capi_cluster_wait:
    clusters:
      - {name: prod-1, namespace: capi-workloads}
      - {name: oke-1, namespace: capi-workloads}
    wait_for: control_plane_initialized

- name: Wait for every cluster of the fleet, workers included
  multicluster.gitops.capi_cluster_wait:
    label_selector: multicluster.gitops/fleet=prod
    wait_for: workers_ready
    timeout: 2400
  register: __capi_workloads_wait

- name: Show the control-plane endpoints
  ansible.builtin.debug:
    msg: "{{ __capi_workloads_wait.clusters | items2dict(key_name='name', value_name='control_plane_endpoint') }}"
"""

RETURN = r"""
clusters:
  description: One entry per cluster waited for.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Name of the Cluster., type: str, returned: always, sample: prod-1}
    namespace: {description: Its namespace., type: str, returned: always, sample: capi-workloads}
    api_version: {description: apiVersion it was read with; null when not found., type: str, returned: always,
                  sample: cluster.x-k8s.io/v1beta2}
    state:
      description: C(ready), C(waiting), C(not_found), C(failed) or C(deleted).
      type: str
      returned: always
      sample: ready
    ready: {description: Whether it reached O(wait_for) and its kubeconfig Secret exists., type: bool,
            returned: always, sample: true}
    phase: {description: C(status.phase); null when not found., type: str, returned: always, sample: Provisioned}
    conditions:
      description: C(status.conditions) as served (type, status, reason, message, and severity in v1beta1).
      type: list
      elements: dict
      returned: always
    control_plane_endpoint: {description: C(https://host:port) from C(spec.controlPlaneEndpoint); null until set.,
                             type: str, returned: always, sample: "https://10.0.0.10:6443"}
    kubeconfig_secret: {description: Name of the kubeconfig Secret CAPI writes., type: str, returned: always,
                        sample: prod-1-kubeconfig}
    kubeconfig_secret_found: {description: Whether that Secret exists., type: bool, returned: always}
    seconds_waited:
      description: Seconds from the start of the call until it was ready (or until the end).
      type: float
      returned: always
      sample: 612.4
api_version:
  description: The preferred version of C(cluster.x-k8s.io) on the server.
  returned: always
  type: str
  sample: cluster.x-k8s.io/v1beta2
wait_for:
  description: The milestone waited for.
  returned: always
  type: str
  sample: available
elapsed:
  description: Seconds the call took.
  returned: always
  type: float
ready_clusters:
  description: The clusters that reached O(wait_for), with their kubeconfig Secret.
  returned: when the wait ran to its end (not in check mode)
  type: list
  elements: dict
  sample: [{name: prod-1, namespace: capi-workloads}]
failed_clusters:
  description:
    - The clusters that failed or were deleted during the wait and, with O(stop_on_failure=false), those still
      waiting at the timeout; empty when every cluster is ready.
  returned: when the wait ran to its end (not in check mode), also with a failure
  type: list
  elements: dict
  contains:
    name: {description: Name of the Cluster., type: str, returned: always, sample: prod-2}
    namespace: {description: Its namespace., type: str, returned: always, sample: capi-workloads}
    state:
      description: C(failed), C(deleted), C(waiting) or C(not_found).
      type: str
      returned: always
    message:
      description: Its phase and every false condition with reason and message.
      type: str
      returned: always
      sample: "prod-2: phase Failed; InfrastructureReady=False (OCIClusterProvisioningFailed: quota exceeded)"
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.multicluster.gitops.plugins.module_utils._capi_status import DEFAULT_WAIT_FOR, WAIT_LEVELS
from ansible_collections.multicluster.gitops.plugins.module_utils._capi_wait import (
    ClusterFailed, public_result, run,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._errors import CollectionError, ResourceTimeout
from ansible_collections.multicluster.gitops.plugins.module_utils._k8s_client import (
    HAS_URLLIB3, K8S_AUTH_ARG_SPEC, URLLIB3_IMPORT_ERROR, kube_client,
)


def argspec() -> dict:
    spec = dict(K8S_AUTH_ARG_SPEC)
    spec.update(
        name=dict(type="str"),
        namespace=dict(type="str"),
        clusters=dict(type="list", elements="dict", options=dict(name=dict(type="str", required=True),
                                                                 namespace=dict(type="str"))),
        label_selector=dict(type="str"),
        wait_for=dict(type="str", choices=list(WAIT_LEVELS), default=DEFAULT_WAIT_FOR),
        timeout=dict(type="int", default=1800),
        fail_fast=dict(type="bool", default=True),
        stop_on_failure=dict(type="bool", default=True),
        heartbeat=dict(type="int", default=30),
        session=dict(type="dict"),
    )
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True,
                           mutually_exclusive=[("name", "clusters", "label_selector")],
                           required_one_of=[("name", "clusters", "label_selector")])
    if not HAS_URLLIB3:
        module.fail_json(msg=missing_required_lib("urllib3"), exception=str(URLLIB3_IMPORT_ERROR))
    try:
        result = run(kube_client(module.params), module.params, check_mode=module.check_mode)
    except (ClusterFailed, ResourceTimeout) as e:
        module.fail_json(msg=e.msg, **public_result(e.result))
    except CollectionError as e:
        module.fail_json(**e.to_fail_kwargs())
    failed = result.get("failed_clusters") or []
    if failed:
        module.warn(f"{len(failed)} of {len(result.get('clusters') or [])} Cluster(s) are not ready (stop_on_failure "
                    "is false, the task goes on): " + " | ".join(c["message"] for c in failed))
    if module.params.get("label_selector") and not result.get("clusters"):
        module.warn(f"No Cluster matches label selector '{module.params['label_selector']}'; nothing to wait for.")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
