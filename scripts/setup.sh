#!/usr/bin/env bash
# Prepare a checkout: a virtualenv with the pinned dependencies, and the checkout linked as the
# collection multicluster.gitops so ansible-playbook / ansible-doc find it. Safe to run again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha
want="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
mkdir -p .cache/collections/ansible_collections/multicluster .cache/ansible-local .cache/ansible-remote
ln -sfn ../../../.. .cache/collections/ansible_collections/multicluster/gitops
