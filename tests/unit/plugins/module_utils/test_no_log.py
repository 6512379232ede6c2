"""The one-pass masker replaces what Ansible's no_log masking would, however many values there are."""
from __future__ import annotations

import base64
import os

from ansible.module_utils.common.parameters import remove_values

from ansible_collections.multicluster.gitops.plugins.module_utils._no_log import MASK, Masker


def _pem() -> str:
    body = base64.b64encode(os.urandom(300)).decode()
    return "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(body[i:i + 64] for i in range(0, len(body), 64)) + \
        "\n-----END RSA PRIVATE KEY-----\n"


def test_masks_exactly_what_ansible_masks():
    pems = [_pem() for i in range(50)]
    values = pems + [base64.b64encode(p.encode()).decode() for p in pems] + ["short-tok", "sekret"]
    result = {
        "clusters": [{"cluster": "c1", "reason": f"bad key {values[3]} in kubeconfig"},
                     {"cluster": "c2", "reason": f"{values[60]}{values[61]} and {pems[7][40:]}"},
                     {"cluster": "c3", "reason": "nothing secret here: cluster-ns.c3 https://10.0.0.1:6443"}],
        "msg": f"token short-tok, sekret and {values[99]}!",
        "nested": [[values[0], 1, True, None]],
    }
    ours = Masker(values)(result)
    assert ours == remove_values(result, set(values))
    assert MASK in ours["clusters"][0]["reason"] and values[3] not in str(ours)
    assert ours["clusters"][2]["reason"] == result["clusters"][2]["reason"]


def test_a_value_inside_a_longer_base64_run_is_found():
    value = base64.b64encode(os.urandom(48)).decode()
    text = "xyz" + value + "abc"  # no separator: the run is longer than the value
    assert Masker([value]).text(text) == f"xyz{MASK}abc"
