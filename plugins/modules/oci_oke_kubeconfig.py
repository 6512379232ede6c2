#!/usr/bin/python
# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: oci_oke_kubeconfig
short_description: Write an OKE cluster's kubeconfig with a token command that exists on this host
version_added: 0.1.0
description:
  - Asks OKE for the cluster's kubeconfig (token version 2.0.0) and writes it to O(dest) with mode 0600.
  - OKE kubeconfigs authenticate through an exec plugin. With O(token_generator=auto) the module keeps
    the C(oci) CLI (package C(oci-cli)) when it is on PATH; otherwise it writes the collection's own token
    generator (C(oke-token.py), needs only the C(oci) SDK) to O(token_script) and points the kubeconfig at it,
    run by the Python that runs this module.
  - The token command gets the same profile, config file or principal as the module, so later plays and
    kubectl authenticate as the module did.
author: multicluster.gitops maintainers (@multicluster-gitops)
requirements:
  - PyYAML
extends_documentation_fragment:
  - multicluster.gitops.oci_auth
attributes:
  check_mode:
    description: Fetches the kubeconfig from OKE and compares it with O(dest); writes no file.
    support: full
  diff_mode:
    description: Shows the kubeconfig before and after, with the certificate authority data redacted.
    support: full
options:
  cluster_id:
    description: OCID of the cluster. Required with O(state=present).
    type: str
  dest:
    description: Path of the kubeconfig file to write.
    type: path
    required: true
  state:
    description:
      - V(absent) removes O(dest) and needs no OCI credentials. The token script is kept, since other
        kubeconfigs in the same directory may use it.
    type: str
    choices: [present, absent]
    default: present
  endpoint:
    description: Which API endpoint the kubeconfig targets.
    type: str
    choices: [PUBLIC_ENDPOINT, PRIVATE_ENDPOINT, VCN_HOSTNAME, LEGACY_KUBERNETES]
    default: PUBLIC_ENDPOINT
  context_name:
    description: Rename the kubeconfig's context (default keeps OKE's name).
    type: str
  token_generator:
    description:
      - V(oci_cli) uses the C(oci) command (fails when it is not on PATH); V(collection) writes and uses
        O(token_script); V(auto) prefers the CLI.
    type: str
    choices: [auto, oci_cli, collection]
    default: auto
  token_script:
    description: Where the collection's token generator is written; default C(oke-token.py) next to O(dest).
    type: path
"""

EXAMPLES = r"""
- name: Kubeconfig of the hub for the next plays
  multicluster.gitops.oci_oke_kubeconfig:
    cluster_id: "{{ hub.cluster.id }}"
    dest: "{{ playbook_dir }}/../.cache/hub.kubeconfig"
  register: kc

- name: Remove it when the cluster is deleted
  multicluster.gitops.oci_oke_kubeconfig:
    dest: "{{ playbook_dir }}/../.cache/hub.kubeconfig"
    state: absent
"""

RETURN = r"""
dest:
  description: Path of the kubeconfig.
  returned: always
  type: str
server:
  description: URL of the API server in the kubeconfig.
  returned: success and state is present
  type: str
context:
  description: Current context of the kubeconfig.
  returned: success and state is present
  type: str
token_generator:
  description: V(oci_cli) or V(collection), the token command the kubeconfig uses.
  returned: success and state is present
  type: str
token_command:
  description: Command and leading arguments of the exec plugin.
  returned: success and state is present
  type: list
  elements: str
"""

import inspect
import sys

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.multicluster.gitops.plugins.module_utils import _oci_token
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_client import oci_client
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_module import (
    oci_argument_spec,
    run_oci_module,
)
from ansible_collections.multicluster.gitops.plugins.module_utils._oci_oke import (
    HAS_YAML,
    YAML_IMPORT_ERROR,
    reconcile_kubeconfig,
)


def argspec() -> dict:
    return oci_argument_spec(resource=False, spec={
        "cluster_id": {"type": "str"},
        "dest": {"type": "path", "required": True},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "endpoint": {"type": "str", "default": "PUBLIC_ENDPOINT",
                     "choices": ["PUBLIC_ENDPOINT", "PRIVATE_ENDPOINT", "VCN_HOSTNAME", "LEGACY_KUBERNETES"]},
        "context_name": {"type": "str"},
        "token_generator": {"type": "str", "default": "auto", "choices": ["auto", "oci_cli", "collection"]},
        "token_script": {"type": "path"},
    })


REQUIRED_IF = [("state", "present", ("cluster_id",))]


def _token_script_source() -> bytes:
    """The token generator's source, read through its loader (a file, or the module's zip payload).

    The written file is executable (mode 0755), so it starts with a shebang and also runs on its own.
    """
    return (_oci_token.SCRIPT_SHEBANG + inspect.getsource(_oci_token)).encode()


def _backend(module: AnsibleModule) -> dict:
    import oci

    # Removing the file needs no API call, so no credentials either.
    client = (None if module.params["state"] == "absent"
              else oci_client(oci.container_engine.ContainerEngineClient, module.params))
    return reconcile_kubeconfig(client, module.params, check_mode=module.check_mode,
                                script_source=_token_script_source(), python=sys.executable)


def main() -> None:
    module = AnsibleModule(argument_spec=argspec(), required_if=REQUIRED_IF, supports_check_mode=True)
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=str(YAML_IMPORT_ERROR))
    run_oci_module(module, _backend)


if __name__ == "__main__":
    main()
