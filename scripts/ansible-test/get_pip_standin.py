"""Stand-in for pypa's get-pip.py, used by ansible-test to bootstrap pip into its test venvs.

ansible-test downloads get-pip from a host that is not always reachable; it first looks in
~/.ansible/test/cache/get_pip_<version>.py. This file, copied there, bootstraps pip with the
interpreter's own `ensurepip`, then lets that pip install the requested packages (e.g. pip==24.2)
from the package index. get-pip's own flags (--no-setuptools, --no-wheel) are dropped.
"""
from __future__ import annotations

import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel", "--no-pip"}


def main() -> int:
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    env = dict(os.environ)
    # ansible-test points GET_PIP at this file; the pip we bootstrap must not recurse into it.
    env.pop("GET_PIP", None)
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-m", "pip", "install", *args], check=False, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
