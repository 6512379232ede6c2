"""The oke_mgmt role through ansible-playbook: disabled, preflight, and a full present/absent lifecycle.

The lifecycle runs the real role and modules; only the OCI SDK's client classes are replaced, inside the
module processes, by the in-memory stubs of tests/unit/oci_stubs.py (built on the SDK's own request and
model classes). A ``sitecustomize`` written to the test's directory installs them when a module starts and
pickles their state when it exits, so consecutive module runs and playbook runs see one tenancy.
"""
from __future__ import annotations

import pickle
import re
import textwrap

import pytest

from tests.helpers.ansible import ROOT, run_playbook

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAYBOOK = "playbooks/oke_mgmt.yml"
COMPARTMENT = "ocid1.compartment.oc1..aaaatest"
_FAILED_ITEM = re.compile(r"^failed: \[localhost\] \(item=(?P<var>.+?)\) =>", re.M)

FAKE_OCI = textwrap.dedent(f'''\
    """Stubbed OCI SDK clients for modules started by ansible-playbook in tests."""
    import atexit
    import itertools
    import os
    import pickle
    import sys

    if "AnsiballZ_" in (sys.argv[0] if sys.argv else ""):
        sys.path.insert(0, {str(ROOT)!r})
        import oci
        from tests.unit import oci_stubs

        _path = os.environ["MCG_FAKE_OCI_STATE"]
        try:
            with open(_path, "rb") as _f:
                _state = pickle.load(_f)
        except FileNotFoundError:
            _state = {{"vn": oci_stubs.VirtualNetworkStub(), "ce": oci_stubs.ContainerEngineStub(), "next": 1}}
        oci_stubs._counter = itertools.count(_state["next"])

        def VirtualNetworkClient(config, **kwargs):
            return _state["vn"]

        def ContainerEngineClient(config, **kwargs):
            return _state["ce"]

        oci.core.VirtualNetworkClient = VirtualNetworkClient
        oci.container_engine.ContainerEngineClient = ContainerEngineClient
        oci.waiter.time.sleep = lambda seconds: None

        def _save():
            _state["next"] = next(oci_stubs._counter)
            with open(_path, "wb") as f:
                pickle.dump(_state, f)

        atexit.register(_save)
''')


def text(stdout: str) -> str:
    """The output with line wrapping undone, for matching messages."""
    return " ".join(stdout.split())


def failed_vars(stdout: str) -> set[str]:
    return {m["var"] for m in _FAILED_ITEM.finditer(stdout)}


def ran_oci_tasks(stdout: str) -> bool:
    return any(name in stdout for name in ("TASK [multicluster.gitops.oke_mgmt : VCN", "OKE cluster]",
                                           "Node pool spread", "Delete the", "Remove the hub's kubeconfig"))


def test_disabled_changes_nothing_and_says_where_the_hub_comes_from(tmp_path):
    result = run_playbook(tmp_path, PLAYBOOK, kubeconfig="/srv/hub.kubeconfig", hostvars={"oke_mgmt_enabled": False})
    assert result.rc == 0, result.stdout
    assert result.changed() == 0 and result.failed() == 0
    assert "the hub cluster comes from the inventory (mcg_hub_kubeconfig=/srv/hub.kubeconfig)" in text(result.stdout)
    assert "Check the OKE settings" not in result.stdout and not ran_oci_tasks(result.stdout)


def test_missing_compartment_fails_preflight_and_nothing_else_runs(tmp_path):
    result = run_playbook(tmp_path, PLAYBOOK, hostvars={"oke_mgmt_enabled": True})
    assert result.rc != 0 and result.failed() == 1 and result.changed() == 0
    assert failed_vars(result.stdout) == {"oke_mgmt_compartment_id"}
    assert "set oke_mgmt_compartment_id to the OCID of the compartment" in text(result.stdout)
    assert not ran_oci_tasks(result.stdout)


def test_each_bad_value_is_named_by_preflight(tmp_path):
    hostvars = {"oke_mgmt_enabled": True, "oke_mgmt_compartment_id": COMPARTMENT, "oke_mgmt_node_count": 0,
                "oke_mgmt_workers_subnet_cidr": "10.0.300.0/24", "oke_mgmt_kubernetes_version": "1.33.1"}
    result = run_playbook(tmp_path, PLAYBOOK, hostvars=hostvars)
    assert result.rc != 0 and result.changed() == 0
    assert failed_vars(result.stdout) == {"oke_mgmt_node_count", "oke_mgmt_workers_subnet_cidr",
                                          "oke_mgmt_kubernetes_version"}
    assert 'with its leading v, like v1.33.1; it is "1.33.1"' in text(result.stdout)
    assert '"10.0.300.0/24"' in result.stdout
    assert not ran_oci_tasks(result.stdout)


def test_bad_state_is_refused_before_any_task(tmp_path):
    result = run_playbook(tmp_path, PLAYBOOK, hostvars={"oke_mgmt_enabled": True, "oke_mgmt_state": "gone",
                                                        "oke_mgmt_compartment_id": COMPARTMENT})
    assert result.rc != 0 and result.changed() == 0
    assert "oke_mgmt_state must be one of: present, absent" in text(result.stdout), result.stdout
    assert "Check the OKE settings" not in result.stdout and not ran_oci_tasks(result.stdout)


# --- lifecycle against stubbed OCI clients ----------------------------------------------------------------
@pytest.fixture
def fake_oci(tmp_path):
    pytest.importorskip("oci")
    site = tmp_path / "fake-oci"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FAKE_OCI)
    state = tmp_path / "oci-state.pickle"
    home = tmp_path / "home"
    home.mkdir()
    env = {"PYTHONPATH": str(site), "MCG_FAKE_OCI_STATE": str(state), "HOME": str(home),
           "OCI_CLI_USER": "ocid1.user.oc1..aaaauser", "OCI_CLI_TENANCY": "ocid1.tenancy.oc1..aaaatenancy",
           "OCI_CLI_FINGERPRINT": "11:22:33:44:55:66:77:88:99:00:aa:bb:cc:dd:ee:ff",
           "OCI_CLI_REGION": "eu-frankfurt-1", "OCI_CLI_KEY_FILE": str(home / "unused-key.pem"),
           # A pipelined module runs from Ansible's own payload, whose sitecustomize shadows the stub's:
           # the stubs reach the module processes only without pipelining.
           "ANSIBLE_PIPELINING": "False"}

    def load() -> dict:
        with state.open("rb") as f:
            return pickle.load(f)

    return env, load


def live(stubs: dict) -> dict[str, list[str]]:
    """Names of what exists (not deleted) in the stubbed tenancy, by kind."""
    out: dict[str, list[str]] = {}
    for obj in stubs["vn"].resources.values():
        if obj.lifecycle_state != "TERMINATED":
            out.setdefault(type(obj).__name__, []).append(obj.display_name)
    for kind, items in (("Cluster", stubs["ce"].clusters), ("NodePool", stubs["ce"].node_pools)):
        names = [x.name for x in items.values() if x.lifecycle_state not in ("DELETED", "DELETING")]
        if names:
            out[kind] = names
    return out


LIFECYCLE = """
- name: Step present
  hosts: hub
  gather_facts: false
  roles:
    - role: multicluster.gitops.oke_mgmt

- name: Step absent in check mode
  hosts: hub
  gather_facts: false
  check_mode: true
  diff: true
  vars:
    oke_mgmt_state: absent
  roles:
    - role: multicluster.gitops.oke_mgmt
  post_tasks:
    - name: Look at the kubeconfig
      ansible.builtin.stat:
        path: "{{ oke_mgmt_kubeconfig_path }}"
      register: kubeconfig_after_check
    - name: Check mode kept it
      ansible.builtin.assert:
        that: kubeconfig_after_check.stat.exists

- name: Step absent
  hosts: hub
  gather_facts: false
  vars:
    oke_mgmt_state: absent
  roles:
    - role: multicluster.gitops.oke_mgmt

- name: Step absent again
  hosts: hub
  gather_facts: false
  vars:
    oke_mgmt_state: absent
  roles:
    - role: multicluster.gitops.oke_mgmt
"""
_PLAY = re.compile(r"^PLAY \[(?P<name>[^\]]+)\] \*+$", re.M)


def changed_per_play(stdout: str) -> dict[str, int]:
    """How many tasks reported changed in each play, from the task lines between the PLAY headers."""
    heads = list(_PLAY.finditer(stdout))
    out = {}
    for head, nxt in zip(heads, heads[1:] + [None]):
        section = stdout[head.end(): nxt.start() if nxt else len(stdout)]
        out[head["name"]] = len(re.findall(r"^changed: \[localhost\]", section, re.M))
    return out


def test_present_then_absent_with_check_mode_and_idempotence(tmp_path, fake_oci):
    """One ansible-playbook run of four plays (each run costs seconds): create, absent in check mode, absent, again."""
    env, load = fake_oci
    kubeconfig = tmp_path / "kube" / "hub.kubeconfig"
    hostvars = {"oke_mgmt_enabled": True, "oke_mgmt_compartment_id": COMPARTMENT, "oke_mgmt_node_count": 2,
                "oke_mgmt_availability_domains": ["AD-1", "AD-2"], "oke_mgmt_kubeconfig_path": str(kubeconfig),
                "oke_mgmt_token_generator": "collection"}
    result = run_playbook(tmp_path, LIFECYCLE, hostvars=hostvars, env=env)
    assert result.rc == 0, result.stdout
    # network, cluster, node pool, kubeconfig; then the same four in reverse, in check mode and for real
    assert changed_per_play(result.stdout) == {"Step present": 4, "Step absent in check mode": 4,
                                               "Step absent": 4, "Step absent again": 0}, result.stdout
    absent = result.stdout[result.stdout.index("PLAY [Step absent]"):result.stdout.index("PLAY [Step absent again]")]
    order = [absent.index(f"TASK [multicluster.gitops.oke_mgmt : {name}") for name in (
        "Remove the hub's kubeconfig", "Delete the node pool", "Delete the cluster", "Delete the network")]
    assert order == sorted(order)

    stubs = load()
    assert live(stubs) == {} and not kubeconfig.exists()
    assert (kubeconfig.parent / "oke-token.py").exists()  # kept: other kubeconfigs may use it
    ce_writes = stubs["ce"].writes()
    assert ce_writes == ["create_cluster", "create_node_pool", "delete_node_pool", "delete_cluster"]
    vn_writes = stubs["vn"].writes()
    assert vn_writes[:12] == ["create_" + w.removeprefix("delete_") for w in reversed(vn_writes[12:])]
    assert len(vn_writes) == 24 and vn_writes[12] == "delete_subnet" and vn_writes[-1] == "delete_vcn"
    pools = list(stubs["ce"].node_pools.values())
    assert [p.node_config_details.size for p in pools] == [2]
