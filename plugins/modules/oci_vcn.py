#!/usr/bin/python
# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: oci_vcn
short_description: The network of an OKE cluster as one unit
version_added: 0.1.0
description:
  - Creates, updates or deletes a VCN with an internet gateway, a NAT gateway, a service gateway
    (all Oracle services of the region), a public and a private route table, security lists and three
    subnets - the Kubernetes API endpoint, the worker nodes and the service load balancers.
  - Security rules follow OKE's documented rules for flannel and VCN-native pod networking; pods share
    the worker subnet.
  - Each resource is named C(<name>-<role>) and found by that display name plus the freeform tag
    C(managed-by=multicluster.gitops); drift in route rules, security rules, gateway settings and tags
    is corrected, immutable fields (CIDRs, DNS labels, public/private) fail with what to do.
author: multicluster.gitops maintainers (@multicluster-gitops)
extends_documentation_fragment:
  - multicluster.gitops.oci_auth
attributes:
  check_mode:
    description: Reads the live network and reports which resources would be created, updated or deleted; sends no write request.
    support: full
  diff_mode:
    description: Shows every network resource the module manages before and after.
    support: full
options:
  compartment_id:
    description: OCID of the compartment holding the network.
    type: str
    required: true
  name:
    description: Prefix of every display name, for example C(hub) gives C(hub-vcn), C(hub-workers-subnet).
    type: str
    required: true
  state:
    description:
      - V(absent) deletes every resource of the network, last created first (subnets, security lists,
        route tables, gateways, the VCN), each waited for until C(TERMINATED).
      - A 409 because something outside the network still uses a resource (for example a load balancer
        of a Kubernetes Service in the load balancer subnet) fails naming the resource and what to delete.
    type: str
    choices: [present, absent]
    default: present
  cidr_block:
    description: CIDR of the VCN.
    type: str
    default: 10.0.0.0/16
  dns_label:
    description: DNS label of the VCN; defaults to O(name) reduced to letters and digits (15 at most).
    type: str
  api_subnet_cidr:
    description: CIDR of the Kubernetes API endpoint subnet.
    type: str
    default: 10.0.0.0/28
  workers_subnet_cidr:
    description: CIDR of the worker node (and pod) subnet.
    type: str
    default: 10.0.10.0/24
  lb_subnet_cidr:
    description: CIDR of the load balancer subnet.
    type: str
    default: 10.0.20.0/24
  api_endpoint_public:
    description: Make the API endpoint subnet public (routes to the internet gateway, public IPs allowed).
    type: bool
    default: true
  api_allowed_cidrs:
    description: Sources allowed to reach the Kubernetes API on TCP 6443.
    type: list
    elements: str
    default: [0.0.0.0/0]
  lb_public:
    description: Make the load balancer subnet public and open TCP 80/443 to the internet.
    type: bool
    default: true
  freeform_tags:
    description: Extra freeform tags for every resource; C(managed-by) is always added.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Network for the hub cluster
  multicluster.gitops.oci_vcn:
    compartment_id: "{{ oci_compartment_id }}"
    name: hub
    api_allowed_cidrs: [203.0.113.0/24]
  register: net

- name: Remove it again
  multicluster.gitops.oci_vcn:
    compartment_id: "{{ oci_compartment_id }}"
    name: hub
    state: absent
"""

RETURN = r"""
vcn_id:
  description: OCID of the VCN (null in check mode before creation and after deletion).
  returned: always
  type: str
subnet_ids:
  description: OCIDs of the subnets, keys C(api), C(workers), C(load_balancers).
  returned: always
  type: dict
resources:
  description: Every resource of the network with its key, kind, display name, OCID and the action taken
    (C(create), C(update), C(delete), C(none)).
  returned: always
  type: list
  elements: dict
progress:
  description: Lifecycle states observed while waiting (OCID, state, seconds elapsed).
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
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_network import reconcile_network


def argspec() -> dict:
    return oci_argument_spec({
        "cidr_block": {"type": "str", "default": "10.0.0.0/16"},
        "dns_label": {"type": "str"},
        "api_subnet_cidr": {"type": "str", "default": "10.0.0.0/28"},
        "workers_subnet_cidr": {"type": "str", "default": "10.0.10.0/24"},
        "lb_subnet_cidr": {"type": "str", "default": "10.0.20.0/24"},
        "api_endpoint_public": {"type": "bool", "default": True},
        "api_allowed_cidrs": {"type": "list", "elements": "str", "default": ["0.0.0.0/0"]},
        "lb_public": {"type": "bool", "default": True},
        "freeform_tags": {"type": "dict", "default": {}},
    })


def _backend(module: AnsibleModule) -> dict:
    import oci

    client = oci_client(oci.core.VirtualNetworkClient, module.params)
    return reconcile_network(client, module.params, check_mode=module.check_mode)


def main() -> None:
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    run_oci_module(module, _backend)


if __name__ == "__main__":
    main()
