"""``python -m realengines build|up|down|status [name...]``.

* ``build [component...]``: build components (default: all), skipping those whose stamp matches.
* ``up [name...]``: start an API server per name (default ``hub``) under .cache/engines/run/<name>,
  print its URL and kubeconfig and leave it running (detached).
* ``down [name...]``: stop those servers (default: every one under .cache/engines/run).
* ``status [name...]``: whether each is running and healthy.
"""
from __future__ import annotations

import argparse
import sys

from . import build as _build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realengines", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "up", "down", "status"])
    parser.add_argument("names", nargs="*", help="components (build) or server names (up/down/status)")
    parser.add_argument("--force", action="store_true", help="build even when the stamp matches")
    parser.add_argument("--no-controller-manager", action="store_true",
                        help="up: start etcd and kube-apiserver only")
    args = parser.parse_args(argv)
    if args.command == "build":
        rc = 0
        for component in args.names or list(_build.COMPONENTS):
            try:
                _build.build(component, force=args.force)
            except _build.BuildError as err:
                print(f"build of {component} failed: {err}", file=sys.stderr)
                rc = 1
        return rc
    from . import kube

    if args.command == "up":
        for name in args.names or ["hub"]:
            server = kube.KubeAPIServer(name, controller_manager=not args.no_controller_manager)
            server.start(detach=True)
            print(f"{name}: {server.url}  KUBECONFIG={server.kubeconfig_path}")
        return 0
    if args.command == "down":
        for name in args.names or kube.run_names():
            print(f"{name}: {kube.stop_detached(name)}")
        return 0
    rc = 0
    for name in args.names or kube.run_names():
        state = kube.status(name)
        print(f"{name}: {state}")
        rc = rc or (0 if state.startswith("running") else 3)
    return rc


if __name__ == "__main__":
    sys.exit(main())
