"""Every role's meta/argument_specs.yml documents exactly the variables of its defaults/main.yml."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {} if path.exists() else {}


@pytest.mark.parametrize("role", ROLES)
def test_spec_keys_equal_defaults(role: str) -> None:
    defaults = _load(ROOT / "roles" / role / "defaults" / "main.yml")
    spec = _load(ROOT / "roles" / role / "meta" / "argument_specs.yml")
    options = spec["argument_specs"]["main"].get("options", {})
    assert sorted(options) == sorted(defaults), (
        f"{role}: only in argument_specs: {sorted(set(options) - set(defaults))}; "
        f"only in defaults: {sorted(set(defaults) - set(options))}"
    )


@pytest.mark.parametrize("role", ROLES)
def test_spec_options_documented(role: str) -> None:
    spec = _load(ROOT / "roles" / role / "meta" / "argument_specs.yml")
    main = spec["argument_specs"]["main"]
    assert main.get("short_description"), f"{role}: argument_specs main needs a short_description"
    for name, opt in main.get("options", {}).items():
        assert opt.get("type"), f"{role}: option {name} has no type"
        assert opt.get("description"), f"{role}: option {name} has no description"
        assert name.startswith(f"{role}_"), f"{role}: public variable {name} must start with '{role}_'"


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_match_defaults_file(role: str) -> None:
    defaults = _load(ROOT / "roles" / role / "defaults" / "main.yml")
    spec = _load(ROOT / "roles" / role / "meta" / "argument_specs.yml")
    for name, opt in spec["argument_specs"]["main"].get("options", {}).items():
        value = defaults.get(name)
        if "default" in opt and not (isinstance(value, str) and "{{" in value):
            assert opt["default"] == value, f"{role}: {name} default {opt['default']!r} != defaults/main.yml {value!r}"


def test_every_role_present() -> None:
    assert set(ROLES) == {"oke_mgmt", "ingress_tls", "argocd", "capi_workloads", "kyverno_policies", "appsets"}
