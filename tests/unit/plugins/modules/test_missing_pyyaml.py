"""Modules that parse YAML import without PyYAML and fail from main() with missing_required_lib("PyYAML")."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import COLLECTIONS, ROOT

# Runs in a fresh interpreter where `import yaml` raises ImportError, as on a target without PyYAML.
PROBE = textwrap.dedent("""
    import importlib, io, json, sys
    sys.modules["yaml"] = None
    sys.path[:0] = [{collections!r}, {root!r}]
    from ansible.module_utils.testing import patch_module_args
    utils = importlib.import_module("ansible_collections.multicluster.gitops.plugins.module_utils.{utils}")
    module = importlib.import_module("ansible_collections.multicluster.gitops.plugins.modules.{module}")
    out = io.StringIO()
    sys.stdout = out
    code = None
    try:
        with patch_module_args({args!r}):
            module.main()
    except SystemExit as e:
        code = e.code
    sys.stdout = sys.__stdout__
    print(json.dumps({{"has_yaml": utils.HAS_YAML, "error": str(utils.YAML_IMPORT_ERROR), "code": code,
                      "result": json.loads(out.getvalue())}}))
""")

CASES = [
    ("argocd_cluster_secret", "_argocd_cluster", {"kubeconfig": "/nonexistent"}),
    ("oci_oke_kubeconfig", "_oci_oke", {"dest": "/nonexistent/kubeconfig", "state": "absent"}),
]


@pytest.mark.parametrize("module,utils,args", CASES, ids=[case[0] for case in CASES])
def test_module_reports_missing_pyyaml(module: str, utils: str, args: dict) -> None:
    probe = PROBE.format(collections=str(COLLECTIONS), root=str(ROOT), utils=utils, module=module, args=args)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout.splitlines()[-1])
    assert outcome["has_yaml"] is False and "yaml" in outcome["error"]
    assert outcome["code"] == 1 and outcome["result"]["failed"] is True
    assert "PyYAML" in outcome["result"]["msg"], outcome["result"]["msg"]
