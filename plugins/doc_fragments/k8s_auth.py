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
  request_timeout:
    description:
      - Seconds to wait for the API server's answer to one request once connected (connecting itself times out
        after 10 seconds). A watch waits its own server-side timeout plus a margin instead.
      - Falls back to E(MCG_K8S_REQUEST_TIMEOUT).
    type: float
    default: 60
  request_retries:
    description:
      - How many times a request that failed for a transient reason (HTTP 429 or 5xx, a refused, reset or cut
        connection, a timeout) is tried again, with capped exponential back-off and jitter, honouring
        C(Retry-After). At most 30 seconds are spent waiting between the tries of one request.
      - A create retried after an ambiguous failure and answered C(409 AlreadyExists) is re-read and counts as done
        when the live object holds what was sent.
      - Falls back to E(MCG_K8S_REQUEST_RETRIES).
    type: int
    default: 7
notes:
  - Each option falls back to the environment variable kubernetes.core uses (E(K8S_AUTH_KUBECONFIG),
    E(K8S_AUTH_CONTEXT), E(K8S_AUTH_HOST), E(K8S_AUTH_API_KEY), E(K8S_AUTH_VERIFY_SSL), E(K8S_AUTH_SSL_CA_CERT),
    E(K8S_AUTH_CERT_FILE), E(K8S_AUTH_KEY_FILE)).
  - Requests are sent with urllib3. The collection reads a kubeconfig's server, C(certificate-authority(-data)),
    C(insecure-skip-tls-verify), C(tls-server-name), C(token), C(tokenFile), client certificate and key (files or
    inline data), C(username)/C(password) and C(exec) credential plugins (C(client.authentication.k8s.io/v1) and
    C(v1beta1), e.g. C(oci ce cluster generate-token)) itself, as well as the in-cluster service account.
  - A user C(auth-provider), a cluster C(proxy-url), an exec plugin of another API version, or a proxy set in
    E(HTTPS_PROXY) / E(HTTP_PROXY) are handled by the Python C(kubernetes) package, which must then be installed.
"""
