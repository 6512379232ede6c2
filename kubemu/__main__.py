"""``python -m kubemu serve``: run one emulated API server as a process until SIGTERM/SIGINT."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .server import KubeServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kubemu", description="An emulated Kubernetes API server.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve until SIGTERM or SIGINT")
    serve.add_argument("--name", default="hub", help="server name (kubeconfig context and CA name)")
    serve.add_argument("--crd-dir", type=Path, help="directory of CRD *.yaml to preload")
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="listen port (0: any free port)")
    serve.add_argument("--kubeconfig", type=Path, help="write an admin kubeconfig here")
    serve.add_argument("--client-cert", action="store_true", help="kubeconfig with a client certificate")
    serve.add_argument("--state-dir", type=Path, help="keep CA, admin token and objects here across restarts")
    serve.add_argument("--no-tls", action="store_true", help="plain HTTP (tests only)")
    return parser


def serve(args: argparse.Namespace) -> int:
    server = KubeServer(name=args.name, crd_dir=args.crd_dir, tls=not args.no_tls, port=args.port,
                        host=args.host, state_dir=args.state_dir)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    if args.kubeconfig:
        server.write_kubeconfig(args.kubeconfig, client_cert=args.client_cert)
    print(server.url, flush=True)
    stop.wait()
    server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = _parser().parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
