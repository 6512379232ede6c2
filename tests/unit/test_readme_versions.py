"""README's table of pinned versions names each pin's role default and equals it."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(?P<var>[a-z_]+)` \| (?P<version>[^|]+?) \|", re.M)


def _defaults() -> dict:
    merged: dict = {}
    for path in sorted(ROOT.glob("roles/*/defaults/main.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def _table() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Pinned versions", 1)[1].split("\n## ", 1)[0]
    return {m["var"]: m["version"].strip() for m in ROW.finditer(section)}


def test_readme_versions_equal_role_defaults():
    defaults = _defaults()
    table = _table()
    assert table, "README has no pinned-versions table"
    wrong = {var: (version, defaults.get(var)) for var, version in table.items() if str(defaults.get(var)) != version}
    assert not wrong, f"README version differs from the role default (README, default): {wrong}"


def test_every_chart_and_provider_pin_is_in_the_readme():
    pins = {k for k in _defaults() if re.search(r"_(chart_)?version$", k) and not k.endswith("kubernetes_version")}
    pins.add("oke_mgmt_kubernetes_version")
    missing = pins - set(_table())
    assert not missing, f"pinned in a role but not listed in README: {sorted(missing)}"
