"""Record what kubernetes.core tasks register when the API fails, for tests/unit/plugins/test/test_transient.py.

    .venv/bin/python tests/unit/plugins/test/record_k8s_results.py [CASE ...]

Runs k8s_info (plain and with wait), k8s present (one object and a list) and k8s absent through the fault proxy
(tests/helpers/faults.py) in front of kubemu, once per case: a fault on the object requests only ("resource-*",
discovery passes) or on every request ("discovery-*"), a refused connection, and no fault at all with tasks that
succeed or fail for permanent reasons (an invalid object, an unknown kind, a wait that times out). Writes k8s_results.json beside this file: per
case and task, the registered result trimmed to the fields the test reads (the exception text's traceback and the
Date header are cut). Takes about a minute per case.
"""
from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[4]
sys.path[:0] = [str(ROOT), str(ROOT / ".cache" / "collections")]

import kubemu  # noqa: E402  pylint: disable=wrong-import-position
from tests.helpers.ansible import run_playbook  # noqa: E402  pylint: disable=wrong-import-position
from tests.helpers.faults import PASS, FaultProxy  # noqa: E402  pylint: disable=wrong-import-position

OUT = Path(__file__).with_name("k8s_results.json")
TASKS = {
    "k8s_info": "kubernetes.core.k8s_info: {api_version: v1, kind: ConfigMap, namespace: default, name: exists}",
    "k8s_info_wait": "kubernetes.core.k8s_info: {api_version: v1, kind: ConfigMap, namespace: default, name: exists,"
                     " wait: true, wait_timeout: 3}",
    "k8s_present": "kubernetes.core.k8s: {state: present, definition: {apiVersion: v1, kind: ConfigMap,"
                   " metadata: {name: new, namespace: default}, data: {b: '2'}}}",
    "k8s_present_list": "kubernetes.core.k8s: {state: present, definition: [{apiVersion: v1, kind: ConfigMap,"
                        " metadata: {name: new2, namespace: default}}, {apiVersion: v1, kind: ConfigMap,"
                        " metadata: {name: new3, namespace: default}}]}",
    "k8s_absent": "kubernetes.core.k8s: {state: absent, api_version: v1, kind: ConfigMap, namespace: default,"
                  " name: exists}",
}
PERMANENT_TASKS = {
    "k8s_info_ok": TASKS["k8s_info"],
    "k8s_present_ok": TASKS["k8s_present"],
    "k8s_present_invalid": "kubernetes.core.k8s: {state: present, definition: {apiVersion: v1, kind: ConfigMap,"
                           " metadata: {name: Not_A_Name, namespace: default}}}",
    "k8s_unknown_kind": "kubernetes.core.k8s: {state: present, definition: {apiVersion: example.com/v1, kind: Nope,"
                        " metadata: {name: x, namespace: default}}}",
    "k8s_info_unknown_kind": "kubernetes.core.k8s_info: {api_version: example.com/v1, kind: Nope}",
    "k8s_info_wait_timeout": "kubernetes.core.k8s_info: {api_version: v1, kind: ConfigMap, namespace: default,"
                             " name: exists, wait: true, wait_timeout: 2, wait_condition: {type: Ready}}",
    "k8s_wait_timeout": "kubernetes.core.k8s: {state: present, wait: true, wait_timeout: 2,"
                        " wait_condition: {type: Ready}, definition: {apiVersion: v1, kind: ConfigMap,"
                        " metadata: {name: waits, namespace: default}}}",
}
FAULTS = {"500": ("status", 500), "502": ("status", 502), "503": ("status", 503), "504": ("status", 504),
          "429": ("status", 429, 1), "reset": ("reset",), "down": ("down",), "401": ("status", 401),
          "403": ("status", 403), "409": ("status", 409), "422": ("status", 422)}
KEEP = ("changed", "failed", "msg", "reason", "status", "error", "api_found", "resources", "module_stderr")


def playbook(tasks: dict[str, str], dump: Path) -> str:
    body = "".join(f"""
    - name: {name}
      {module}
      register: r_{name}
      ignore_errors: true
""" for name, module in tasks.items())
    results = ", ".join(f"'{name}': r_{name}" for name in tasks)
    return f"""
- hosts: hub
  gather_facts: false
  module_defaults:
    group/kubernetes.core.k8s: {{kubeconfig: "{{{{ mcg_hub_kubeconfig }}}}"}}
  tasks:{body}
    - name: dump
      ansible.builtin.copy:
        dest: {dump}
        content: "{{{{ {{{results}}} | to_nice_json }}}}"
"""


def trim(result: dict) -> dict:
    out = {k: result[k] for k in KEEP if k in result}
    if isinstance(out.get("msg"), str):
        msg = out["msg"].split("\nOriginal traceback")[0]
        out["msg"] = "\n".join("HTTP response headers: (cut)" if line.startswith("HTTP response headers:") else line
                               for line in msg.split("\n"))
    return out


def _on_objects(fault: tuple):
    return lambda method, path, n: fault if "/configmaps" in path else PASS


def _always(fault: tuple):
    return lambda method, path, n: fault


def cases() -> dict:
    found = {"no-fault": (_always(PASS), PERMANENT_TASKS)}
    for name, fault in FAULTS.items():
        found[f"resource-{name}"] = (_on_objects(fault), TASKS)
        found[f"discovery-{name}"] = (_always(fault), TASKS)
    found["discovery-refused"] = (None, TASKS)
    return found


def record(only: list[str]) -> None:
    recorded = json.loads(OUT.read_text()) if OUT.exists() else {}
    srv = kubemu.KubeServer(name="record", tls=False).start()
    try:
        for case, (plan, tasks) in cases().items():
            if only and case not in only:
                continue
            for name in ("exists", "new", "new2", "new3", "waits"):
                srv.delete("v1", "ConfigMap", name, "default")
            srv.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "exists", "namespace": "default"}})
            with FaultProxy(srv.url, plan) as proxy, TemporaryDirectory() as tmp:
                kubeconfig = srv.kubeconfig_dict()
                kubeconfig["clusters"][0]["cluster"]["server"] = proxy.url
                if plan is None:  # a port where nothing listens
                    sock = socket.socket()
                    sock.bind(("127.0.0.1", 0))
                    kubeconfig["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{sock.getsockname()[1]}"
                    sock.close()
                (Path(tmp) / "kubeconfig").write_text(json.dumps(kubeconfig))
                dump = Path(tmp) / "dump.json"
                run_playbook(Path(tmp), playbook(tasks, dump), kubeconfig=Path(tmp) / "kubeconfig")
                recorded[case] = {task: trim(result) for task, result in json.loads(dump.read_text()).items()}
                print(case, dict(proxy.counts), flush=True)
            OUT.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    finally:
        srv.stop()


if __name__ == "__main__":
    record(sys.argv[1:])
