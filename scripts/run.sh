#!/usr/bin/env bash
# Set up the checkout and run the main job (site.yml) on the embedded default inventory, the sandbox.
# Extra arguments go to ansible-playbook (e.g. --check, -i inventories/oci).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
. .venv/bin/activate
# The sandbox (the default inventory) keeps its objects in memory only: say so when its hub died since the last run.
case " $* " in
  *" -i "* | *" --inventory"* | *" -i"[!\ ]*) ;;
  *)
    if [ -f .cache/sandbox/sandbox.json ]; then
      python -m kubemu.sandbox status --state-dir .cache/sandbox | python -c '
import json, sys
s = json.load(sys.stdin)
if s["state"] == "dead":
    print("run.sh: " + s["msg"], file=sys.stderr)
' || true
    fi
    ;;
esac
exec ansible-playbook site.yml "$@"
