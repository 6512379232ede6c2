"""scripts/role_readmes.py: READMEs generated from meta/argument_specs.yml, and --check."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "role_readmes.py"
_spec = importlib.util.spec_from_file_location("role_readmes", SCRIPT)
role_readmes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_readmes)

SPECS = {
    "argument_specs": {
        "main": {
            "short_description": "Installs C(demo)",
            "description": ["First paragraph with O(demo_a).", "See U(https://example.com) and L(docs,https://d.example)."],
            "options": {
                "demo_chart_version": {"type": "str", "default": "1.2.3", "description": "Pinned chart."},
                "demo_mode": {"type": "str", "default": "a", "choices": ["a", "b"], "description": "Mode | pipe."},
                "demo_required": {"type": "str", "required": True, "description": "Must be set."},
                "demo_list": {"type": "list", "elements": "dict", "default": [],
                              "description": "Items.", "options": {"name": {"type": "str", "description": "I(Name)."}}},
            },
        },
        "upgrade": {"short_description": "Upgrade only", "options": {}},
    }
}


def make_role(tmp_path: Path, name: str = "demo", specs: dict | None = None) -> Path:
    role = tmp_path / "roles" / name
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(specs or SPECS, sort_keys=False))
    return role


@pytest.mark.parametrize(("text", "expected"), [
    ("C(x)", "`x`"), ("V(true)", "`true`"), ("O(opt)", "`opt`"), ("I(word)", "*word*"), ("B(bold)", "**bold**"),
    ("U(https://a.b)", "<https://a.b>"), ("L(text,https://a.b)", "[text](https://a.b)"), ("plain", "plain"),
])
def test_markup(text: str, expected: str) -> None:
    assert role_readmes.markup(text) == expected


def test_render_lists_every_option_with_type_default_and_choices(tmp_path: Path) -> None:
    text = role_readmes.render("demo", SPECS)
    assert text.startswith(role_readmes.HEADER)
    assert "# multicluster.gitops.demo" in text and "Installs `demo`" in text
    assert "See <https://example.com> and [docs](https://d.example)." in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    assert '| `demo_chart_version` | str | `"1.2.3"` | Pinned chart. |' in text
    assert "Mode \\| pipe. Choices: `\"a\"`, `\"b\"`." in rows["`demo_mode`"]
    assert "**required**" in rows["`demo_required`"]
    assert "list of dict" in rows["`demo_list`"] and "`demo_list.name`" in rows
    assert "### Pinned versions" in text and '| `demo_chart_version` | `1.2.3` |' in text
    assert "## Entry point `upgrade`" in text and "This entry point takes no variables." in text


def test_write_then_check(tmp_path: Path) -> None:
    role = make_role(tmp_path)
    roles_dir = str(tmp_path / "roles")
    assert role_readmes.main(["--check", "--roles-dir", roles_dir]) == 1  # missing README is stale
    assert role_readmes.main(["--roles-dir", roles_dir]) == 0
    assert (role / "README.md").read_text() == role_readmes.render("demo", SPECS)
    assert role_readmes.main(["--check", "--roles-dir", roles_dir]) == 0
    changed = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    changed["argument_specs"]["main"]["options"]["demo_new"] = {"type": "int", "default": 1, "description": "New."}
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(changed))
    assert role_readmes.main(["--check", "--roles-dir", roles_dir]) == 1
    assert "demo_new" not in (role / "README.md").read_text(), "--check must not write"


def test_manual_part_after_the_marker_is_kept(tmp_path: Path) -> None:
    role = make_role(tmp_path)
    (role / "README.md").write_text(f"old\n{role_readmes.END}\n## Troubleshooting\nkeep me\n")
    role_readmes.main(["--roles-dir", str(tmp_path / "roles")])
    text = (role / "README.md").read_text()
    assert text.startswith(role_readmes.HEADER) and "old\n" not in text
    assert text.endswith(f"{role_readmes.END}\n## Troubleshooting\nkeep me\n")


def test_roles_without_specs_are_left_alone_and_unknown_names_fail(tmp_path: Path) -> None:
    make_role(tmp_path)
    (tmp_path / "roles" / "bare" / "tasks").mkdir(parents=True)
    role_readmes.main(["--roles-dir", str(tmp_path / "roles")])
    assert not (tmp_path / "roles" / "bare" / "README.md").exists()
    with pytest.raises(SystemExit, match="no meta/argument_specs.yml in roles: bare"):
        role_readmes.main(["bare", "--roles-dir", str(tmp_path / "roles")])


def test_invalid_specs_say_what_to_fix(tmp_path: Path) -> None:
    make_role(tmp_path, specs={"options": {}})
    with pytest.raises(SystemExit, match="needs a top-level 'argument_specs' mapping"):
        role_readmes.main(["--roles-dir", str(tmp_path / "roles")])


def test_readmes_of_the_collection_roles_are_current() -> None:
    if not list(ROOT.glob("roles/*/meta/argument_specs.yml")):
        pytest.skip("no role has meta/argument_specs.yml yet")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr + "\nrun: python scripts/role_readmes.py"
