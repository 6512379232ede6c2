"""The main job with nothing to change: ``ansible-playbook site.yml`` on the sandbox inventory.

One run creates everything on a fresh sandbox hub (its own state directory, so a sandbox you run is not touched);
then ``--repeat`` runs with nothing to change, each timed by Ansible's ``ansible.posix.profile_tasks`` callback.
Prints, with min / median / max over the no-change runs:

* the whole ``ansible-playbook`` run, the tasks Ansible ran (ok / changed / skipped) and the module processes it
  started (counted by a wrapper set as ``ansible_python_interpreter``);
* the ten slowest tasks (median of each over the runs);
* the machine, its cores and the 1-minute load average (the machine may be shared: read the figures with it).

Usage: python benchmarks/main_job.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".cache" / "collections"), str(ROOT)]

from tests.helpers.ansible import isolated_env, parse_recap  # noqa: E402

from benchmarks.registration import machine, spread  # noqa: E402

# A profile_tasks line: "<role> : <task name> ---------- 1.23s" (long names get three dashes).
PROFILE_LINE = re.compile(r"^(?P<task>\S.*?) -{3,} (?P<seconds>\d+\.\d+)s$")
COUNTING_PYTHON = """#!/bin/sh
# Counts module processes: Ansible runs every module through this interpreter.
echo x >> {out}
exec {python} "$@"
"""


def profile(stdout: str) -> dict[str, float]:
    """Seconds of each task of a run, by name; tasks of the same name (a shared task file) are added up."""
    times: dict[str, float] = defaultdict(float)
    after_recap = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            after_recap = True
            continue
        match = PROFILE_LINE.match(line.strip()) if after_recap else None
        if match:
            times[match["task"]] += float(match["seconds"])
    return dict(times)


def run_site(state: Path, tmp: Path, python_wrapper: Path | None, profile_tasks: bool) -> tuple[float, str]:
    extra = [f"mcg_sandbox_dir={state}"]
    if python_wrapper is not None:
        extra.append(f"ansible_python_interpreter={python_wrapper}")
    # As on a user's machine: byte-code caches written, one temp dir (kubernetes.core's discovery cache) for all runs.
    env = {"PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all", "MCG_HEARTBEAT_INTERVAL": "0", "PYTHONDONTWRITEBYTECODE": ""}
    if profile_tasks:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "site.yml"] + [a for e in extra for a in ("-e", e)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=isolated_env(tmp, env), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SystemExit(f"site.yml failed (rc {proc.returncode}):\n{out[-4000:]}")
    return wall, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="no-change runs")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"API server: kubemu (the sandbox inventory's emulated hub, simulated Cluster API); site.yml once to create, "
          f"then {args.repeat} runs with nothing to change; figures min/median/max", flush=True)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        state = tmp / "sandbox"
        count_file = tmp / "module-processes"
        wrapper = tmp / "counting-python"
        wrapper.write_text(COUNTING_PYTHON.format(out=count_file, python=sys.executable))
        wrapper.chmod(0o755)
        try:
            wall, out = run_site(state, tmp / "ansible", None, False)
            recap = parse_recap(out)["localhost"]
            print(f"\nfirst run (creates everything): {wall:.1f} s, ok={recap['ok']} changed={recap['changed']}",
                  flush=True)
            walls, loads, processes, recaps, profiles = [], [], [], [], []
            for _run in range(args.repeat):
                count_file.write_text("")
                wall, out = run_site(state, tmp / "ansible", wrapper, True)
                walls.append(wall)
                loads.append(os.getloadavg()[0])
                processes.append(len(count_file.read_text().splitlines()))
                recaps.append(parse_recap(out)["localhost"])
                profiles.append(profile(out))
        finally:
            subprocess.run([sys.executable, "-m", "kubemu.sandbox", "down", "--state-dir", str(state)], cwd=ROOT,
                           capture_output=True, check=False)

    print("\nno-change runs:")
    print(f"  ansible-playbook site.yml: {spread(walls, '{:.1f}')} s (load1 median {statistics.median(loads):.2f})")
    for key in ("ok", "changed", "skipped"):
        print(f"  tasks {key}: {spread([float(r[key]) for r in recaps], '{:.0f}')}")
    print(f"  module processes: {spread([float(p) for p in processes], '{:.0f}')}")
    tasks = {name for p in profiles for name in p}
    medians = {name: statistics.median(p.get(name, 0.0) for p in profiles) for name in tasks}
    print(f"  time in tasks: {spread([sum(p.values()) for p in profiles], '{:.1f}')} s, of which tasks under 0.3 s: "
          f"{spread([sum(t for t in p.values() if t < 0.3) for p in profiles], '{:.1f}')} s")
    print("\nten slowest tasks (median over the no-change runs, seconds; same-named tasks added up):")
    for name, seconds in sorted(medians.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {seconds:6.2f}  {name}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
