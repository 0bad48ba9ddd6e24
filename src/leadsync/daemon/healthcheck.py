"""The container's HEALTHCHECK: ``python -m leadsync.daemon.healthcheck --config PATH`` exits 0 when the
daemon's ``/healthz`` (at the configured ``[daemon] health_host:health_port``) answers 200, else 1."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

from leadsync.config.settings import ConfigError, load_settings

# A server listening on every interface is probed on loopback, where the check itself runs.
_ANY = {"", "0.0.0.0", "::"}  # noqa: S104 - compared, never bound


def health_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in _ANY else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/healthz"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leadsync.daemon.healthcheck")
    parser.add_argument("--config", default=None)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    try:
        daemon = load_settings(args.config).daemon
    except ConfigError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    url = health_url(daemon.health_host, daemon.health_port)
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as reply:  # noqa: S310 - our own http URL
            healthy = reply.status == 200
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
