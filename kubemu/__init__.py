"""kubemu: an emulated Kubernetes API server for tests and the sandbox inventory.

See docs/emulator.md for what is emulated and what is simplified.
"""
from __future__ import annotations

from .errors import ApiError
from .server import KubeServer, load_crds

__all__ = ["KubeServer", "ApiError", "load_crds"]
