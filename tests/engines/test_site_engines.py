"""site.yml end to end on the real set: the essential path of the Molecule scenario molecule/engines.

The whole set (realengines/stack.py: a real kube-apiserver + kube-controller-manager, the Cluster API
v1.12.5 managers with CAPD's in-memory backend, Kyverno's admission and background controllers, Argo CD's
ApplicationSet controller) is started under its own run name, then, with inventories/engines:

1. ``site.yml`` converges (the workload clusters test-1 and prod-1 are in-memory CAPI clusters,
   capi_workloads_infrastructure: in_memory; the Helm installs are skipped);
2. a second ``site.yml`` reports changed=0;
3. molecule/engines/verify.yml: real Kyverno generated both Argo CD Secrets from the collection's
   ClusterPolicy, ``argocd_cluster_secret`` in check mode leaves them to the policy and finds them identical
   to what it would write, the ApplicationSet controller generated exactly test-1-guestbook,
   prod-1-guestbook and test-1-helm-guestbook-test, and the summary names the real engines;
4. molecule/engines/destroy.yml: playbooks/destroy.yml deletes the clusters through Cluster API and waits
   (finalizers honoured), nothing of the platform is left, and the engines stop.

Upstream behaviour this relies on (each also pinned by its own test in tests/engines/):
  kubernetes-sigs/cluster-api @ v1.12.5 : test/infrastructure/docker/api/v1beta2/devcluster_types.go,
    devmachine_types.go (spec.backend.inMemory), internal/controllers/cluster/cluster_controller_status.go
    (Available), util/kubeconfig/kubeconfig.go (<cluster>-kubeconfig Secret), internal/controllers/cluster/
    cluster_controller.go (reconcileDelete: the Cluster goes once its descendants are gone);
  kyverno/kyverno @ v1.18.2 : pkg/background/common/labels.go (labels on generated resources, among them
    app.kubernetes.io/managed-by=kyverno), pkg/policy/generate.go (generateExisting: triggers older than the
    policy), pkg/background/generate/cleanup.go (under synchronize the downstream Secret goes with its trigger);
  argoproj/argo-cd @ v3.2.3 : applicationset/generators/cluster.go (cluster generator: Secrets labelled
    argocd.argoproj.io/secret-type=cluster, matched by the selector), applicationset/controllers/
    applicationset_controller.go (Applications named from the template, owned by the ApplicationSet).

Wall time on this machine (2 cores shared with other jobs): 6 to 9 minutes (measured: start 70-120 s,
first run 95-155 s, second run 40-65 s, verify 10 s, destroy 110-165 s). Skipped with the reason when a component is not built
(`python -m realengines build`); failed instead with MCG_ENGINES_REQUIRED.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from realengines import stack
from realengines.kube import EngineError
from realengines.pytest_plugin import capd_exclusive, require_real_engines, run_name
from tests.helpers.ansible import Result, run_playbook

pytestmark = pytest.mark.engines

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "engines"


def _tail(result: Result, lines: int = 40) -> str:
    """The failed tasks' messages (``fatal:`` and the lines after it), else the last lines of the output."""
    out = result.stdout.splitlines()
    failures = [i for i, line in enumerate(out) if line.startswith(("fatal:", "failed:"))]
    if failures:
        return "\n".join("\n".join(out[max(i - 2, 0):i + 8]) for i in failures)
    return "\n".join(out[-lines:])


def _changed_tasks(stdout: str) -> list[str]:
    """The TASK headers followed by a `changed:` line (what broke idempotence)."""
    out, task = [], ""
    for line in stdout.splitlines():
        if line.startswith("TASK ["):
            task = line
        elif line.startswith("changed:") and task:
            out.append(task)
    return out


def test_site_yml_on_the_real_engines(tmp_path: Path) -> None:
    """site.yml, its idempotence, the checks of molecule/engines/verify.yml and destroy.yml on the real set."""
    for component in stack.COMPONENTS:
        require_real_engines(component)
    name = run_name("site")
    extra = {"mcg_engines_run": name}
    timings: dict[str, float] = {}

    def step(label: str, playbook: str, *, timeout: int = 900) -> Result:
        started = time.monotonic()
        result = run_playbook(tmp_path / label, playbook, inventory=INVENTORY, extra_vars=extra, timeout=timeout)
        timings[label] = time.monotonic() - started
        return result

    with capd_exclusive():
        started = time.monotonic()
        try:
            stack.up(name, required=stack.COMPONENTS)
        except EngineError as err:
            stack.down(name)
            pytest.fail(f"the real set did not start: {err}", pytrace=False)
        timings["up"] = time.monotonic() - started
        try:
            first = step("converge", "site.yml")
            assert first.rc == 0 and first.failed() == 0, f"site.yml failed:\n{_tail(first)}"

            second = step("idempotence", "site.yml")
            assert second.rc == 0, f"second site.yml failed:\n{_tail(second)}"
            assert second.changed() == 0, f"second site.yml changed: {_changed_tasks(second.stdout)}"

            verify = step("verify", "molecule/engines/verify.yml")
            assert verify.rc == 0, f"verify failed:\n{_tail(verify)}"

            destroy = step("destroy", "molecule/engines/destroy.yml")
            assert destroy.rc == 0, f"destroy failed:\n{_tail(destroy)}"
            assert "Assert nothing is left" in destroy.stdout
            assert stack.status(name)[0] is False, "destroy.yml left the engines running"
        finally:
            stack.down(name)
            print("timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
