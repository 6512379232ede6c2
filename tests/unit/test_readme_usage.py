"""README tells how to run ansible-playbook by hand after set-up, and the commands it shows exist."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```bash\n(?P<body>.*?)^```", re.M | re.S)


def _bash_blocks() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    return [[ln.split("#", 1)[0].strip() for ln in m["body"].splitlines() if ln.split("#", 1)[0].strip()]
            for m in FENCE.finditer(text)]


def test_readme_activates_the_virtualenv_before_ansible_playbook():
    """A block activates the .venv made by scripts/setup.sh, then runs ansible-playbook (not .venv/bin/...)."""
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "-m venv .venv" in setup, "scripts/setup.sh no longer creates .venv; update README and this test"
    blocks = [b for b in _bash_blocks() if ". .venv/bin/activate" in b]
    assert blocks, "README shows no `. .venv/bin/activate` block"
    runs = [ln for b in blocks for ln in b[b.index(". .venv/bin/activate") + 1:] if ln.startswith("ansible-playbook ")]
    assert runs, "README activates the virtualenv but runs no ansible-playbook after it"
    for line in runs:
        args = shlex.split(line)
        playbook = args[1]
        assert (ROOT / playbook).is_file(), f"README runs a playbook that does not exist: {line}"
        if "-i" in args:
            inventory = args[args.index("-i") + 1]
            assert (ROOT / inventory).exists(), f"README names an inventory that does not exist: {line}"
