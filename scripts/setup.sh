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

# The CRDs the sandbox validates objects against: the pinned upstream files of kubemu/crds.lock.json, fetched into
# .cache/crds and checked by sha256. Without network one line says so; the sandbox then uses $MCG_CRD_DIR or
# ../shared/crds, and fails saying how to provide them when neither exists.
.venv/bin/python -m kubemu.crds fetch --quiet >/dev/null || echo "setup: CRD fetch failed (see above); the sandbox will not start without CRDs" >&2

# ansible-rulebook (Event-Driven Ansible, extensions/eda/) runs its rule engine on a Java 17 runtime (drools_jpy).
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if [ "$(java_major 2>/dev/null || true)" -ge 17 ] 2>/dev/null; then
  :
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "setup: no Java 17 runtime for ansible-rulebook; installing Debian's openjdk-17-jre-headless" >&2
  if ! { apt-get install -y -qq openjdk-17-jre-headless >/dev/null 2>&1 \
         || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq openjdk-17-jre-headless >/dev/null 2>&1; }; }; then
    echo "setup: installing openjdk-17-jre-headless failed; ansible-rulebook (EDA) will not run and its tests skip" >&2
  fi
else
  echo "setup: no Java 17 runtime: ansible-rulebook (extensions/eda/) cannot run and its end-to-end test skips." \
       "Install one, e.g. 'sudo apt-get install openjdk-17-jre-headless'." >&2
fi
