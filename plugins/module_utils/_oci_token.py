# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes exec credential plugin for OKE, using only the oci Python SDK.

It does what ``oci ce cluster generate-token`` does (token version 2.0.0): sign a GET request
for ``https://containerengine.<region>.oraclecloud.com/cluster_request/<cluster-id>``, put the
signature's ``authorization`` and ``date`` headers into its query string, and hand kubectl the
URL-safe base64 of that URL as a bearer token, valid for a few minutes.

The oci_oke_kubeconfig module writes this file next to the kubeconfig when the ``oci`` CLI is not
installed. It is standalone: it imports nothing from Ansible or the collection. Usage, same as the
CLI's so the kubeconfig args fit either::

    oke-token.py ce cluster generate-token --cluster-id OCID --region REGION
                 [--profile NAME] [--config-file PATH] [--auth api_key|instance_principal|resource_principal]

Authentication: ``--auth`` (or OCI_CLI_AUTH); for api_key, OCI_CLI_USER / OCI_CLI_TENANCY /
OCI_CLI_FINGERPRINT / OCI_CLI_KEY_FILE / OCI_CLI_REGION override the profile of the config file.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import sys
from typing import Any
from urllib.parse import urlencode

__all__ = ["SCRIPT_SHEBANG", "token_url", "generate_token", "exec_credential", "signer_from", "main"]

# The first line of the written oke-token.py; this module itself is imported, so it carries none.
SCRIPT_SHEBANG = "#!/usr/bin/env python3\n"

TOKEN_LIFETIME = datetime.timedelta(minutes=4)
_ENV = {"user": "OCI_CLI_USER", "tenancy": "OCI_CLI_TENANCY", "fingerprint": "OCI_CLI_FINGERPRINT",
        "key_file": "OCI_CLI_KEY_FILE", "region": "OCI_CLI_REGION", "pass_phrase": "OCI_CLI_PASSPHRASE"}


def token_url(region: str, cluster_id: str) -> str:
    return f"https://containerengine.{region}.oraclecloud.com/cluster_request/{cluster_id}"


def generate_token(signer: Any, region: str, cluster_id: str) -> str:
    """The bearer token OKE accepts: base64url of the presigned cluster_request URL."""
    import requests  # a dependency of the oci SDK

    url = token_url(region, cluster_id)
    prepared = requests.Request("GET", url).prepare()
    signer.do_request_sign(prepared)  # adds the date and authorization headers in place
    headers = prepared.headers
    query = {"authorization": headers["authorization"], "date": headers["date"]}
    delegation = getattr(signer, "delegation_token", None)
    if delegation:
        query["opc-obo-token"] = delegation
    presigned = f"{url}?{urlencode(query)}"
    return base64.urlsafe_b64encode(presigned.encode()).decode()


def exec_credential(token: str, now: datetime.datetime | None = None) -> dict[str, Any]:
    now = now or datetime.datetime.now(datetime.timezone.utc)
    expires = (now + TOKEN_LIFETIME).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
            "status": {"token": token, "expirationTimestamp": expires}}


def signer_from(auth: str, *, config_file: str | None, profile: str | None,
                region: str | None, environ: dict[str, str] | None = None) -> tuple[Any, str]:
    """(signer, region) from the options, the environment and the config file."""
    import oci

    env = os.environ if environ is None else environ
    if auth == "instance_principal":
        signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
        return signer, region or signer.region
    if auth == "resource_principal":
        signer = oci.auth.signers.get_resource_principals_signer()
        return signer, region or signer.region
    path = os.path.expanduser(config_file or env.get("OCI_CLI_CONFIG_FILE") or "~/.oci/config")
    cfg: dict[str, Any] = {}
    if os.path.exists(path):
        cfg = dict(oci.config.from_file(path, profile or env.get("OCI_CLI_PROFILE") or "DEFAULT"))
    for key, var in _ENV.items():
        if env.get(var):
            cfg[key] = env[var]
    if region:
        cfg["region"] = region
    oci.config.validate_config(cfg)
    signer = oci.signer.Signer(tenancy=cfg["tenancy"], user=cfg["user"], fingerprint=cfg["fingerprint"],
                               private_key_file_location=cfg.get("key_file"), pass_phrase=cfg.get("pass_phrase"),
                               private_key_content=cfg.get("key_content"))
    return signer, cfg["region"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oke-token", description="ExecCredential for an OKE cluster")
    parser.add_argument("words", nargs="*", help="ce cluster generate-token (accepted for CLI compatibility)")
    parser.add_argument("--cluster-id", required=True)
    parser.add_argument("--region")
    parser.add_argument("--profile")
    parser.add_argument("--config-file")
    parser.add_argument("--auth", default=os.environ.get("OCI_CLI_AUTH", "api_key"),
                        choices=["api_key", "instance_principal", "resource_principal"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        signer, region = signer_from(args.auth, config_file=args.config_file, profile=args.profile,
                                     region=args.region)
        token = generate_token(signer, region, args.cluster_id)
    except Exception as e:  # kubectl shows stderr; say what to fix
        sys.stderr.write(f"oke-token: cannot create a token for {args.cluster_id}: {e}. Check the OCI config "
                         "(~/.oci/config, OCI_CLI_PROFILE) or the --auth principal.\n")
        return 1
    sys.stdout.write(json.dumps(exec_credential(token)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
