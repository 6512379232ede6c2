"""``python -m realengines build|up|down|status [name...]``.

* ``build [component...]``: build components (default: all), skipping those whose stamp matches.
* ``up [name...]``: start an API server per name (default ``hub``) under .cache/engines/run/<name>,
  print its URL and kubeconfig and leave it running (detached).
* ``up --all [--name engines] [--require c,...]``: the whole set (kube, capi, kyverno, argocd; see
  realengines/stack.py) on one hub, detached, and write .cache/engines/run/<name>/env.yml (the hub's
  kubeconfig and which engines are real) for inventories/engines. A component not built is left out
  with the reason, unless --require names it (or it is kube).
* ``down [name...]``: stop those servers and, for a set started with ``up --all``, its controllers
  (default: every run under .cache/engines/run).
* ``status [name...]``: whether each is running and healthy.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import build as _build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realengines", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "up", "down", "status"])
    parser.add_argument("names", nargs="*", help="components (build) or server names (up/down/status)")
    parser.add_argument("--force", action="store_true", help="build even when the stamp matches")
    parser.add_argument("--no-controller-manager", action="store_true",
                        help="up: start etcd and kube-apiserver only")
    parser.add_argument("--all", action="store_true",
                        help="up/down/status: the whole set (kube, capi, kyverno, argocd) of run --name")
    parser.add_argument("--name", default="engines", help="run name of the whole set (default: engines)")
    parser.add_argument("--require", default="",
                        help="up --all: comma list of components that must start (default: MCG_ENGINES_REQUIRED)")
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
    from . import kube, stack

    if args.all:
        return _whole_set(args, stack)
    if args.command == "up":
        for name in args.names or ["hub"]:
            server = kube.KubeAPIServer(name, controller_manager=not args.no_controller_manager)
            server.start(detach=True)
            print(f"{name}: {server.url}  KUBECONFIG={server.kubeconfig_path}")
        return 0
    if args.command == "down":
        for name in args.names or kube.run_names():
            if (stack.state_dir(name) / "engines.json").exists():
                print(f"{name}: {'; '.join(stack.down(name))}")
            else:
                print(f"{name}: {kube.stop_detached(name)}")
        return 0
    rc = 0
    for name in args.names or kube.run_names():
        state = kube.status(name)
        print(f"{name}: {state}")
        rc = rc or (0 if state.startswith("running") else 3)
    return rc


def _whole_set(args: argparse.Namespace, stack) -> int:
    """``up|down|status --all``: the whole set of run ``args.name``."""
    from .kube import EngineError

    if args.command == "build":
        print("--all applies to up, down and status", file=sys.stderr)
        return 2
    if args.command == "down":
        print(f"{args.name}: {'; '.join(stack.down(args.name))}")
        return 0
    if args.command == "status":
        ok, lines = stack.status(args.name)
        print("\n".join(f"{args.name} {line}" for line in lines))
        return 0 if ok else 3
    value = args.require or os.environ.get("MCG_ENGINES_REQUIRED", "")
    required = stack.COMPONENTS if value.strip() == "1" else tuple(c.strip() for c in value.split(",") if c.strip())
    try:
        env = stack.up(args.name, required=required)
    except EngineError as err:
        print(f"{args.name}: not started: {err}", file=sys.stderr)
        return 1
    engines = env["mcg_engines"]
    print(f"{args.name}: {engines['hub_url']}  KUBECONFIG={env['mcg_hub_kubeconfig']}")
    print(f"  real: {', '.join(f'{k} {v}' for k, v in engines['real'].items())}")
    print(f"  env file: {stack.env_path(args.name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
