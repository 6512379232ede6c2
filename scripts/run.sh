#!/usr/bin/env bash
# Set up the checkout and run the main job (site.yml) on the embedded default inventory, the sandbox.
# Extra arguments go to ansible-playbook (e.g. --check, -i inventories/oci).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
. .venv/bin/activate
exec ansible-playbook site.yml "$@"
