# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by the collection's Kubernetes modules."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig as a dictionary.
      - Precedence is O(host) first, then this option, then E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG),
        then C(~/.kube/config), then the in-cluster service account.
    type: raw
  context:
    description: The kubeconfig context to use; defaults to the kubeconfig's current-context.
    type: str
  host:
    description: URL of the Kubernetes API server; when set, the kubeconfig is not read.
    type: str
  api_key:
    description: Bearer token for O(host).
    type: str
  validate_certs:
    description: Whether to verify the API server's TLS certificate.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description: Path to a CA certificate file for the API server.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description: Path to a client certificate file.
    type: path
    aliases: [cert_file]
  client_key:
    description: Path to the client certificate's key file.
    type: path
    aliases: [key_file]
notes:
  - Each option falls back to the environment variable kubernetes.core uses (E(K8S_AUTH_KUBECONFIG),
    E(K8S_AUTH_CONTEXT), E(K8S_AUTH_HOST), E(K8S_AUTH_API_KEY), E(K8S_AUTH_VERIFY_SSL), E(K8S_AUTH_SSL_CA_CERT),
    E(K8S_AUTH_CERT_FILE), E(K8S_AUTH_KEY_FILE)).
"""
