"""The rulebooks fit ansible-rulebook's rulebook schema and parser, and their conditions select the events the
source emits. Upstream: ansible/ansible-rulebook @ v1.3.2 : ansible_rulebook/schema/ruleset_schema.json,
ansible_rulebook/rules_parser.py."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
RULEBOOKS = sorted((ROOT / "extensions" / "eda" / "rulebooks").glob("*.yml"))

validators = pytest.importorskip("ansible_rulebook.validators", reason="ansible-rulebook is not installed")
rules_parser = pytest.importorskip("ansible_rulebook.rules_parser")


@pytest.mark.parametrize("path", RULEBOOKS, ids=[p.name for p in RULEBOOKS])
def test_rulebook_fits_the_schema_and_parses(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    validators.Validate.rulebook(data)
    rulesets = rules_parser.parse_rule_sets(data)
    (ruleset,) = rulesets
    (source,) = ruleset.sources
    assert source.source_name == "multicluster.gitops.capi_clusters"
    conditions = sorted(str(r.condition) for r in ruleset.rules)
    assert len(conditions) == 2 and all("event.capi.type" in c for c in conditions), conditions


def test_both_rulebooks_share_the_source_and_conditions() -> None:
    local, awx = (yaml.safe_load((ROOT / "extensions/eda/rulebooks" / n).read_text())
                  for n in ("registration.yml", "registration_awx.yml"))
    assert local[0]["sources"] == awx[0]["sources"]
    assert [r["condition"] for r in local[0]["rules"]] == [r["condition"] for r in awx[0]["rules"]]
    assert {r["action"]["run_playbook"]["name"] for r in local[0]["rules"]} == {"multicluster.gitops.register"}
