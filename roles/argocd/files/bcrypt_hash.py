# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bcrypt hash of the Argo CD admin password, reusing the live hash while it still matches.

Run on the controller by the argocd role: reads {"password", "current_hash", "rounds"} as JSON on stdin and prints
{"hash", "reused"} as JSON. Reusing the live hash keeps the Helm values, so a rerun changes nothing.
"""
from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["hash_password", "main"]

BCRYPT_MAX_BYTES = 72


def hash_password(password: str, current_hash: str = "", rounds: int = 10) -> tuple[str, bool]:
    """Return (hash, reused): ``current_hash`` when it is the bcrypt hash of ``password``, else a new hash."""
    import bcrypt  # the controller's requirements.txt pins it

    secret = password.encode("utf-8")
    if not secret:
        raise ValueError("the password is empty")
    if len(secret) > BCRYPT_MAX_BYTES:
        raise ValueError(f"bcrypt uses at most {BCRYPT_MAX_BYTES} bytes of a password")
    current = (current_hash or "").encode("utf-8")
    if current:
        try:
            if bcrypt.checkpw(secret, current):
                return current.decode("utf-8"), True
        except ValueError:
            pass  # not a bcrypt hash: replace it
    return bcrypt.hashpw(secret, bcrypt.gensalt(rounds=int(rounds))).decode("utf-8"), False


def main() -> int:
    try:
        request: dict[str, Any] = json.load(sys.stdin)
        digest, reused = hash_password(str(request["password"]), str(request.get("current_hash") or ""),
                                       int(request.get("rounds", 10)))
    except ImportError:
        print("the Python library bcrypt is missing on the controller: pip install -r requirements.txt", file=sys.stderr)
        return 2
    except (ValueError, KeyError) as e:
        print(f"cannot hash the admin password: {e}", file=sys.stderr)
        return 1
    json.dump({"hash": digest, "reused": reused}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
