#!/usr/bin/env python
"""site.yml against a hub failing 5, 10 and 20 % of the requests: runs to converge, and what was retried.

The hub is the sandbox's (kubemu with the collection's CRDs and the simulated Cluster API controller, served from
this process over plain HTTP) behind the fault proxy of tests/helpers/faults.py, which answers the given share of the
requests with 500, 429 + Retry-After: 1 or a connection cut mid-response (tests/helpers/faulty_site.py). For each
rate, ``--repeat`` trials, each on a fresh hub with its own seed: ``ansible-playbook site.yml -i inventories/sandbox``
runs until it succeeds (at most ``--max-runs``). Printed per rate, min/median/max over the trials:

* ``runs``: runs until site.yml succeeded (``>N`` when it had not after ``--max-runs``);
* ``requests``: requests the hub's proxy received over all runs of the trial;
* ``faults``: of those, how many the proxy failed (500, 429, cut);
* ``task retries``: kubernetes.core task attempts Ansible repeated (``FAILED - RETRYING``); the other faults were
  retried inside the collection's own client (argocd_cluster_secret, capi_cluster_wait, platform_summary);
* ``wall s``: seconds of all runs of the trial;
* then the Argo CD cluster Secrets per cluster of the inventory after the last run (must be exactly 1 each).

    . .venv/bin/activate && python benchmarks/faults.py [--rates 0.05,0.1,0.2] [--repeat 3] [--max-runs 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".cache" / "collections")]

from benchmarks.registration import machine, spread  # noqa: E402  pylint: disable=wrong-import-position
from tests.helpers.faults import random_plan  # noqa: E402  pylint: disable=wrong-import-position
from tests.helpers.faulty_site import FaultySite, inventory_clusters, retried_tasks  # noqa: E402

CRD_DIR = Path(os.environ.get("MCG_CRD_DIR", ROOT.parent / "shared" / "crds"))


def trial(rate: float, seed: int, max_runs: int) -> dict[str, float | str]:
    """One fresh hub; site.yml until it succeeds or ``max_runs`` ran."""
    with tempfile.TemporaryDirectory(prefix="mcg-faults-") as tmp, \
            FaultySite(Path(tmp), random_plan(rate, seed=seed), crd_dir=CRD_DIR) as site:
        started = time.monotonic()
        load = os.getloadavg()[0]
        converged = False
        for _run in range(max_runs):
            if site.run().rc == 0:
                converged = True
                break
        wall = time.monotonic() - started
        assert site.proxy is not None
        counts = dict(site.proxy.counts)
        names = [c["name"] for c in inventory_clusters()]
        per_cluster = {name: 0 for name in names}
        for secret in site.argocd_cluster_secrets():
            label = (secret["metadata"].get("labels") or {}).get("multicluster.gitops/cluster-name", "?")
            per_cluster[label] = per_cluster.get(label, 0) + 1
        return {
            "runs": len(site.runs) if converged else f">{max_runs}",
            "requests": sum(counts.values()),
            "faults": sum(v for k, v in counts.items() if k != "pass"),
            "retries": sum(len(retried_tasks(run.stdout)) for run in site.runs),
            "wall": wall, "load": load,
            "secrets": ",".join(f"{k}={v}" for k, v in sorted(per_cluster.items())),
            "kinds": ",".join(f"{k}={v}" for k, v in sorted(counts.items()) if k != "pass"),
        }


def _spread(values: list[float]) -> str:
    return spread(values, "{:.0f}")


def _runs(values: list[float | str]) -> str:
    if all(isinstance(v, int) for v in values):
        return _spread([float(v) for v in values])  # type: ignore[arg-type]
    return " ".join(str(v) for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="0.05,0.1,0.2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"API server: kubemu (emulated, in the benchmark's process) behind the fault proxy (500, 429 + Retry-After: 1, "
          f"cut mid-response); site.yml -i inventories/sandbox until it succeeds, at most {args.max_runs} runs; "
          f"{args.repeat} trials per rate, each a fresh hub; figures min/median/max", flush=True)
    print(f"\n{'faults':>6} {'runs':>9} {'requests':>14} {'faults':>11} {'task retries':>12} {'wall s':>13} "
          f"{'load1':>5}  secrets per cluster (each trial)")
    for rate in rates:
        samples = [trial(rate, args.seed + i, args.max_runs) for i in range(args.repeat)]
        print(f"{rate * 100:5.0f}% {_runs([s['runs'] for s in samples]):>9} "
              f"{_spread([float(s['requests']) for s in samples]):>14} {_spread([float(s['faults']) for s in samples]):>11} "
              f"{_spread([float(s['retries']) for s in samples]):>12} {_spread([float(s['wall']) for s in samples]):>13} "
              f"{statistics.median([float(s['load']) for s in samples]):5.2f}  "
              f"{' | '.join(str(s['secrets']) for s in samples)}", flush=True)
        print(f"       fault kinds: {' | '.join(str(s['kinds']) for s in samples)}", flush=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
