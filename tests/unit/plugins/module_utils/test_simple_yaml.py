"""The kubeconfig reader that skips PyYAML's constructor returns what yaml.safe_load returns, or None."""
from __future__ import annotations

import base64

import pytest
import yaml

from ansible_collections.multicluster.gitops.plugins.module_utils._simple_yaml import read

# A kubeconfig in block layout (mappings, sequences at the key's indentation, plain scalars), as serialised by
# client-go's clientcmd.Write, which CAPI uses for its kubeconfig Secrets.
CAPI = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=
    server: https://172.18.0.3:6443
  name: test-1
contexts:
- context:
    cluster: test-1
    user: test-1-admin
  name: test-1-admin@test-1
current-context: test-1-admin@test-1
kind: Config
preferences: {}
users:
- name: test-1-admin
  user:
    client-certificate-data: LS0tLS1CRUdJTi==
    client-key-data: LS0tLS1CRUdJTiBSU0E=
"""

INSIDE = [
    CAPI,
    yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "a@b", "preferences": {},
                    "clusters": [{"name": "b", "cluster": {"server": "https://10.0.0.1:6443",
                                                           "certificate-authority-data": "QUJD"}}],
                    "users": [{"name": "a", "user": {"token": "abc.def-ghi_jkl"}}],
                    "contexts": [{"name": "a@b", "context": {"cluster": "b", "user": "a"}}]}),
    "a:\n  - x\n  - y\n",
    "x: {}\ny: []\n",
    "a:\n- b: c\n  d:\n  - e\n",
    "deep:\n  deeper:\n    deepest: v\n  back: w\ntop: z\n",
]

OUTSIDE = [
    CAPI.replace("server: https://172.18.0.3:6443", "server: 'https://172.18.0.3:6443'"),  # quotes
    CAPI.replace("kind: Config", "kind: Config  # comment"),
    CAPI.replace("kind: Config", "kind: Config "),  # trailing space
    CAPI.replace("  name: test-1\n", "  name: test-1\n  name: test-2\n", 1),  # duplicate key
    "a: yes\n", "a: on\n", "a: 1\n", "a: 1.5\n", "a: 0x1F\n", "a: 1:20\n", "a: .inf\n", "a: ~\n", "a: null\n",
    "a: 2001-12-14\n", "a: =\n", "a: <<\n", "a: b:\n", "a: &x b\n", "a: *x\n", "a: !!str b\n", "a: |\n  b\n",
    "a:\nb: c\n", "a: b\na: c\n", "- a\n", "---\na: b\n", "a:\n\tb: c\n", "a: b\r\n", "1: a\n", "true: a\n",
    "a: [b, c]\n", "a: {b: c}\n", "  a: b\n", "a:\n    b: c\n  d: e\n", "",
]


@pytest.mark.parametrize("text", INSIDE)
def test_documents_of_the_subset_read_as_pyyaml_reads_them(text):
    """Upstream: kubernetes-sigs/cluster-api @ v1.12.5 : util/kubeconfig/kubeconfig.go (clientcmd.Write)."""
    doc = read(text)
    assert doc is not None, "expected the fast path"
    assert doc == yaml.safe_load(text)


@pytest.mark.parametrize("text", OUTSIDE)
def test_anything_else_is_left_to_pyyaml(text):
    assert read(text) is None


def test_parse_kubeconfig_gives_the_same_kubeconfig_through_either_reader():
    from ansible_collections.multicluster.gitops.plugins.module_utils._argocd_cluster import parse_kubeconfig
    fast = parse_kubeconfig(base64.b64encode(CAPI.encode()).decode())
    quoted = CAPI.replace("kind: Config", "kind: 'Config'")  # the same document, outside the subset
    assert read(quoted) is None
    slow = parse_kubeconfig(base64.b64encode(quoted.encode()).decode())
    assert fast == slow and fast.document == slow.document
    assert fast.server == "https://172.18.0.3:6443" and fast.key_data == "LS0tLS1CRUdJTiBSU0E="
