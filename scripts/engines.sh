#!/usr/bin/env bash
# Real engines built from Go modules (docs/real-engines.md, "Real-engine tier"):
#   bash scripts/engines.sh build [component...]   build (stamped: a second run does nothing)
#   bash scripts/engines.sh up [name...]           start etcd + kube-apiserver + kube-controller-manager
#   bash scripts/engines.sh up|status|down --all   the whole set (kube, capi, kyverno, argocd) for inventories/engines
#   bash scripts/engines.sh status|down [name...]  state of / stop the servers under .cache/engines/run
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ -f .venv/bin/activate ]; then . .venv/bin/activate; fi
exec python -m realengines "$@"
