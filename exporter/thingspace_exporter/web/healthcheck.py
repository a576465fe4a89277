"""`python -m thingspace_exporter.healthcheck`: exit 0 when the exporter on this host answers
`/-/healthy` with 200, else 1. The container image's HEALTHCHECK: the image has no curl or wget.

It finds the port in THINGSPACE_LISTEN_ADDRESS (a `--listen-address` flag given to the exporter
is not visible here, so containers set the variable), and speaks TLS when the web configuration in
THINGSPACE_WEB_CONFIG_FILE serves it. It asks its own process over loopback, so it does not verify
the certificate; with RequireAndVerifyClientCert it cannot get in (use VerifyClientCertIfGiven)."""

from __future__ import annotations

import os
import ssl
import sys
import urllib.error
import urllib.request

from .address import DEFAULT_PORT, parse_listen_address
from .webconfig import WebConfigError, load

# the exporter's settings (config.ENV_PREFIX), read here without the rest of the exporter
ENV_PREFIX = "THINGSPACE_"
TIMEOUT_SECONDS = 4.0  # below the HEALTHCHECK's --timeout, so a hung server reports why


def url(listen_address: str, tls: bool = False) -> str:
    host, port = parse_listen_address(listen_address)
    # A wildcard address is reached over loopback; 0.0.0.0 itself is not a destination.
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"{'https' if tls else 'http'}://{f'[{host}]' if ':' in host else host}:{port}/-/healthy"


def tls_context() -> ssl.SSLContext | None:
    path = os.environ.get(ENV_PREFIX + "WEB_CONFIG_FILE")
    if not path or load(path).ssl_context is None:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # its own server, over loopback
    return context


def main() -> int:
    try:
        context = tls_context()
        target = url(os.environ.get(ENV_PREFIX + "LISTEN_ADDRESS", f":{DEFAULT_PORT}"), context is not None)
    except ValueError as exc:
        print(f"healthcheck: {ENV_PREFIX}LISTEN_ADDRESS: {exc}", file=sys.stderr)
        return 1
    except WebConfigError as exc:
        print(f"healthcheck: {ENV_PREFIX}WEB_CONFIG_FILE: {exc}", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(target, timeout=TIMEOUT_SECONDS, context=context) as reply:
            print(reply.read().decode(errors="replace").strip())
            return 0
    except urllib.error.HTTPError as exc:  # 503: the loop died or a cycle overran its deadline
        print(f"healthcheck: {exc.code} {exc.read().decode(errors='replace').strip()}", file=sys.stderr)
    except OSError as exc:
        print(f"healthcheck: {target}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
