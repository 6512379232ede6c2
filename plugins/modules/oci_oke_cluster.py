#!/usr/bin/python
# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: oci_oke_cluster
short_description: An OKE (Container Engine for Kubernetes) cluster
version_added: 0.1.0
description:
  - Creates, upgrades or deletes an OKE cluster found by O(name) plus the freeform tag
    C(managed-by=multicluster.gitops) in the compartment, and waits on the work request.
  - Changes in place what OKE allows - Kubernetes version (upgrade only, to a version the cluster offers),
    BASIC to ENHANCED type, the public IP of the API endpoint, tags. Other differences (VCN, subnets,
    pod networking, CIDRs) fail with a message saying what to do.
author: multicluster.gitops maintainers (@multicluster-gitops)
extends_documentation_fragment:
  - multicluster.gitops.oci_auth
attributes:
  check_mode:
    description: Reads the live cluster and reports the create, update or delete that would be sent, without sending it.
    support: full
  diff_mode:
    description: Shows the cluster's managed fields before and after.
    support: full
options:
  compartment_id:
    description: OCID of the compartment of the cluster.
    type: str
    required: true
  name:
    description: Name of the cluster.
    type: str
    required: true
  state:
    description:
      - V(absent) deletes the cluster (its node pools go with it) and waits for the work request. Load
        balancers and block volumes created by Kubernetes stay; delete LoadBalancer Services first.
      - A cluster already being deleted is waited for; a 409 because another work request runs on it
        fails with what to do.
    type: str
    choices: [present, absent]
    default: present
  vcn_id:
    description: OCID of the VCN (see M(multicluster.gitops.oci_vcn)). Required with O(state=present).
    type: str
  kubernetes_version:
    description: Kubernetes version, for example C(v1.33.1). Required with O(state=present).
    type: str
  cluster_type:
    description: OKE cluster type.
    type: str
    choices: [BASIC_CLUSTER, ENHANCED_CLUSTER]
    default: BASIC_CLUSTER
  cni_type:
    description: Pod networking, flannel overlay or VCN-native pod IPs.
    type: str
    choices: [FLANNEL_OVERLAY, OCI_VCN_IP_NATIVE]
    default: FLANNEL_OVERLAY
  endpoint_subnet_id:
    description: OCID of the Kubernetes API endpoint subnet. Required with O(state=present).
    type: str
  endpoint_public:
    description: Give the API endpoint a public IP (the subnet must be public).
    type: bool
    default: true
  service_lb_subnet_ids:
    description: OCIDs of the subnets for Kubernetes LoadBalancer services.
    type: list
    elements: str
    default: []
  pods_cidr:
    description: Pod CIDR (flannel).
    type: str
    default: 10.244.0.0/16
  services_cidr:
    description: Service ClusterIP CIDR.
    type: str
    default: 10.96.0.0/16
  freeform_tags:
    description: Extra freeform tags; C(managed-by) is always added.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Hub cluster
  multicluster.gitops.oci_oke_cluster:
    compartment_id: "{{ oci_compartment_id }}"
    name: hub
    vcn_id: "{{ net.vcn_id }}"
    endpoint_subnet_id: "{{ net.subnet_ids.api }}"
    service_lb_subnet_ids: ["{{ net.subnet_ids.load_balancers }}"]
    kubernetes_version: v1.33.1
    cluster_type: ENHANCED_CLUSTER
    cni_type: OCI_VCN_IP_NATIVE
  register: hub

- name: Delete it
  multicluster.gitops.oci_oke_cluster:
    compartment_id: "{{ oci_compartment_id }}"
    name: hub
    state: absent
"""

RETURN = r"""
cluster:
  description: The cluster (id, name, kubernetes_version, cluster_type, cni_type, endpoints, ...); null when
    absent or not yet created in check mode.
  returned: always
  type: dict
progress:
  description: Work request status changes observed while waiting (id, operation, status, seconds elapsed).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multicluster.gitops.plugins.module_utils._oci_client import oci_client
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_module import (
    oci_argument_spec,
    run_oci_module,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_oke import reconcile_cluster


def argspec() -> dict:
    return oci_argument_spec({
        "vcn_id": {"type": "str"},
        "kubernetes_version": {"type": "str"},
        "cluster_type": {"type": "str", "default": "BASIC_CLUSTER", "choices": ["BASIC_CLUSTER", "ENHANCED_CLUSTER"]},
        "cni_type": {"type": "str", "default": "FLANNEL_OVERLAY", "choices": ["FLANNEL_OVERLAY", "OCI_VCN_IP_NATIVE"]},
        "endpoint_subnet_id": {"type": "str"},
        "endpoint_public": {"type": "bool", "default": True},
        "service_lb_subnet_ids": {"type": "list", "elements": "str", "default": []},
        "pods_cidr": {"type": "str", "default": "10.244.0.0/16"},
        "services_cidr": {"type": "str", "default": "10.96.0.0/16"},
        "freeform_tags": {"type": "dict", "default": {}},
    })


REQUIRED_IF = [("state", "present", ("vcn_id", "kubernetes_version", "endpoint_subnet_id"))]


def _backend(module: AnsibleModule) -> dict:
    import oci

    client = oci_client(oci.container_engine.ContainerEngineClient, module.params)
    return reconcile_cluster(client, module.params, check_mode=module.check_mode)


def main() -> None:
    module = AnsibleModule(argument_spec=argspec(), required_if=REQUIRED_IF, supports_check_mode=True)
    run_oci_module(module, _backend)


if __name__ == "__main__":
    main()
