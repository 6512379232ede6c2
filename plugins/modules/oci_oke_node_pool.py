#!/usr/bin/python
# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: oci_oke_node_pool
short_description: A node pool of an OKE cluster, spread over availability domains
version_added: 0.1.0
description:
  - Creates, updates or deletes a node pool found by O(name) plus the freeform tag
    C(managed-by=multicluster.gitops) in the cluster, and waits on the work request.
  - Drift is corrected, for example a size changed in the console, a different shape, OCPUs or memory,
    availability domains or Kubernetes version.
  - Without O(image_id), the newest OKE image for the Kubernetes version and the shape's architecture is
    picked on creation and kept until the version changes.
author: multicluster.gitops maintainers (@multicluster-gitops)
extends_documentation_fragment:
  - multicluster.gitops.oci_auth
attributes:
  check_mode:
    description: Reads the live node pool and reports the create, update or delete that would be sent, without sending it.
    support: full
  diff_mode:
    description: Shows the node pool's managed fields before and after.
    support: full
options:
  compartment_id:
    description: OCID of the compartment of the node pool.
    type: str
    required: true
  cluster_id:
    description: OCID of the cluster. One of O(cluster_id) and O(cluster_name) is required.
    type: str
  cluster_name:
    description:
      - Name of the cluster, found like M(multicluster.gitops.oci_oke_cluster) finds it (name plus the
        managed-by tag in O(compartment_id)). Handy for O(state=absent), when the OCID is not at hand.
      - With O(state=absent) a missing cluster means the node pool is gone too.
    type: str
  name:
    description: Name of the node pool.
    type: str
    required: true
  state:
    description:
      - V(absent) deletes the node pool and waits for the work request (its nodes are terminated).
      - A node pool already being deleted is waited for; a 409 because another work request runs on it
        fails with what to do.
    type: str
    choices: [present, absent]
    default: present
  kubernetes_version:
    description: Kubernetes version of the nodes; defaults to the cluster's.
    type: str
  node_shape:
    description: Compute shape, for example C(VM.Standard.E5.Flex) or C(VM.Standard.A1.Flex).
    type: str
    default: VM.Standard.E5.Flex
  ocpus:
    description: OCPUs per node (Flex shapes only).
    type: float
    default: 2
  memory_in_gbs:
    description: Memory per node in GB (Flex shapes only).
    type: float
    default: 16
  image_id:
    description: OCID of the node image; default picks the newest matching OKE image.
    type: str
  boot_volume_size_in_gbs:
    description: Boot volume size in GB.
    type: int
  size:
    description: Number of nodes, spread over the availability domains.
    type: int
    default: 3
  subnet_id:
    description: OCID of the worker subnet. Required with O(state=present).
    type: str
  availability_domains:
    description: Availability domain names to spread the nodes over; default every domain of the region.
    type: list
    elements: str
    default: []
  pod_subnet_ids:
    description: Pod subnets with VCN-native pod networking; default O(subnet_id).
    type: list
    elements: str
    default: []
  max_pods_per_node:
    description: Maximum pods per node with VCN-native pod networking.
    type: int
  ssh_public_key:
    description: SSH public key installed on the nodes.
    type: str
  initial_node_labels:
    description: Kubernetes labels given to new nodes.
    type: dict
    default: {}
  freeform_tags:
    description: Extra freeform tags; C(managed-by) is always added.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Three nodes for the hub, one per availability domain
  multicluster.gitops.oci_oke_node_pool:
    compartment_id: "{{ oci_compartment_id }}"
    cluster_id: "{{ hub.cluster.id }}"
    name: hub-pool
    subnet_id: "{{ net.subnet_ids.workers }}"
    node_shape: VM.Standard.E5.Flex
    ocpus: 2
    memory_in_gbs: 16
    size: 3

- name: Delete it, finding the cluster by name
  multicluster.gitops.oci_oke_node_pool:
    compartment_id: "{{ oci_compartment_id }}"
    cluster_name: hub
    name: hub-pool
    state: absent
"""

RETURN = r"""
node_pool:
  description: The node pool (id, kubernetes_version, node_shape, ocpus, memory_in_gbs, image_id, size,
    placement, nodes, ...); null when absent or not yet created in check mode.
  returned: always
  type: dict
progress:
  description: Work request status changes observed while waiting.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multicluster.gitops.plugins.module_utils._oci_client import call, oci_client
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_module import (
    oci_argument_spec,
    run_oci_module,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_oke import reconcile_node_pool


def argspec() -> dict:
    return oci_argument_spec({
        "cluster_id": {"type": "str"},
        "cluster_name": {"type": "str"},
        "kubernetes_version": {"type": "str"},
        "node_shape": {"type": "str", "default": "VM.Standard.E5.Flex"},
        "ocpus": {"type": "float", "default": 2},
        "memory_in_gbs": {"type": "float", "default": 16},
        "image_id": {"type": "str"},
        "boot_volume_size_in_gbs": {"type": "int"},
        "size": {"type": "int", "default": 3},
        "subnet_id": {"type": "str"},
        "availability_domains": {"type": "list", "elements": "str", "default": []},
        "pod_subnet_ids": {"type": "list", "elements": "str", "default": []},
        "max_pods_per_node": {"type": "int"},
        "ssh_public_key": {"type": "str"},
        "initial_node_labels": {"type": "dict", "default": {}},
        "freeform_tags": {"type": "dict", "default": {}},
    })


REQUIRED_IF = [("state", "present", ("subnet_id",))]
REQUIRED_ONE_OF = [("cluster_id", "cluster_name")]
MUTUALLY_EXCLUSIVE = [("cluster_id", "cluster_name")]


def _backend(module: AnsibleModule) -> dict:
    import oci

    params = module.params
    ce = oci_client(oci.container_engine.ContainerEngineClient, params)

    def availability_domains() -> list:
        identity = oci_client(oci.identity.IdentityClient, params)
        return [ad.name for ad in call(identity.list_availability_domains, params["compartment_id"]).data]

    return reconcile_node_pool(ce, params, check_mode=module.check_mode, availability_domains=availability_domains)


def main() -> None:
    module = AnsibleModule(argument_spec=argspec(), required_if=REQUIRED_IF, required_one_of=REQUIRED_ONE_OF,
                           mutually_exclusive=MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    run_oci_module(module, _backend)


if __name__ == "__main__":
    main()
