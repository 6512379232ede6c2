#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set-up, pytest (unit, emulator conformance,
# integration over HTTP), ansible-lint, ansible-test sanity, Molecule. Stages can be picked:
#   scripts/test.sh [pytest|lint|sanity|molecule]...   (default: all)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
. .venv/bin/activate
export ANSIBLE_LOCAL_TEMP="$root/.cache/ansible-local" ANSIBLE_REMOTE_TEMP="$root/.cache/ansible-remote"

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(pytest lint sanity molecule)

run_pytest() {
  local rc=0
  python -m pytest -n "${PYTEST_WORKERS:-2}" -q tests || rc=$?
  # 5 = no tests collected: a suite that ran nothing has failed.
  if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; return 1; fi
  return "$rc"
}
run_lint() { ansible-lint --offline -q; }
run_sanity() { bash scripts/sanity.sh; }
run_molecule() { (cd "$root" && molecule test -s default); }

for stage in "${stages[@]}"; do
  echo "=== $stage"
  "run_$stage"
done
echo "=== all stages passed: ${stages[*]}"
