#!/usr/bin/env bash
# ansible-test sanity on a copy of the checkout laid out as ansible_collections/multicluster/gitops,
# in ansible-test's own virtualenvs. Extra arguments go to ansible-test (e.g. --test pep8).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. .venv/bin/activate
pip_version="$(python - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
from types import SimpleNamespace
print(get_venv_packages(SimpleNamespace(version="3.11"))["pip"])
PY
)"
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
cp scripts/ansible-test/get_pip_standin.py "$cache/get_pip_${pip_version//./_}.py"

dest="$root/.cache/sanity/ansible_collections/multicluster/gitops"
rm -rf "$dest"
mkdir -p "$dest"
# The files git would ship: tracked and untracked-but-not-ignored ones.
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] || continue
  mkdir -p "$dest/$(dirname "$f")"
  cp -p "$f" "$dest/$f"
done
cd "$dest"
{ git init -q . && git add -A; } >/dev/null 2>&1 || true
exec ansible-test sanity --venv --python 3.11 --color no "$@"
