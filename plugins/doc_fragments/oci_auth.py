# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authentication and wait options shared by the collection's OCI modules."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
requirements:
  - oci >= 2.150
options:
  auth_type:
    description:
      - How to authenticate to OCI.
      - V(api_key) signs with a user's API key. Precedence is explicit options first, then their environment
        variables, then the profile O(config_profile_name) of the config file O(config_file_location).
      - V(instance_principal) uses the identity of the OCI compute instance running the task (it must be in a
        dynamic group that IAM policies allow); V(resource_principal) that of an OCI function or job.
    type: str
    choices: [api_key, instance_principal, resource_principal]
    default: api_key
  config_file_location:
    description:
      - Path of the OCI config file. Defaults to E(OCI_CLI_CONFIG_FILE), E(OCI_CONFIG_FILE), then C(~/.oci/config).
      - A missing default file is fine when all API-key values come from options or the environment.
    type: path
  config_profile_name:
    description: Profile (section) of the config file. Defaults to E(OCI_CLI_PROFILE), then C(DEFAULT).
    type: str
  api_user:
    description: OCID of the user (E(OCI_CLI_USER)); overrides the profile's C(user).
    type: str
  api_user_fingerprint:
    description: Fingerprint of the user's API key (E(OCI_CLI_FINGERPRINT)).
    type: str
  api_user_key_file:
    description: Path of the user's PEM private key (E(OCI_CLI_KEY_FILE)).
    type: path
  api_user_key_content:
    description:
      - The user's PEM private key itself (E(OCI_CLI_KEY_CONTENT)); wins over the profile's C(key_file).
      - Not passed to the kubeconfig's token command; prefer O(api_user_key_file) when a kubeconfig is written.
    type: str
  api_user_key_pass_phrase:
    description: Pass phrase of the private key (E(OCI_CLI_PASSPHRASE)).
    type: str
  tenancy:
    description: OCID of the tenancy (E(OCI_CLI_TENANCY)).
    type: str
  region:
    description:
      - Region identifier, for example C(eu-frankfurt-1) (E(OCI_CLI_REGION)).
      - With principals, defaults to the principal's own region.
    type: str
  wait:
    description: Wait for work requests and lifecycle states to finish before returning.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for one operation before failing with a timeout.
    type: int
    default: 1800
notes:
  - Requires the C(oci) Python SDK on the host running the module (the controller for these modules).
  - Throttling (HTTP 429), transient server errors and HTTP 409 C(IncorrectState) are retried with
    exponential back-off; other service errors fail with the status, the service code and the C(opc-request-id)
    to quote to Oracle support.
  - Resources are found by name plus the freeform tag C(managed-by=multicluster.gitops) within the compartment;
    a resource of the same name without the tag is never adopted silently.
"""
