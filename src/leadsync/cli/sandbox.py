"""``leadsync sandbox serve``: both emulators on loopback TLS until interrupted.

Prints one ``KEY=value`` line per setting a client needs (stdout, flushed, nothing else on stdout) so
scripts can ``eval``/parse them; human notes go to stderr. SIGINT or SIGTERM stops cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from leadsync.cli.common import CliError, settings_from


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("sandbox", parents=parents, help="local Salesforce and HubSpot emulators")
    commands = group.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)
    serve = commands.add_parser(
        "serve", parents=parents, help="run both emulators with a synthetic org until interrupted",
        description="Run the Salesforce and HubSpot emulators over TLS on loopback and print, one per line, "
                    "the KEY=value settings a client needs. Ctrl-C (or SIGTERM) stops them.",
    )
    serve.add_argument("--persons", type=int, metavar="N", help="people in the synthetic org "
                       "(default: [sandbox] persons)")
    serve.add_argument("--seed", type=int, metavar="S", help="seed of the synthetic org (default: [sandbox] seed)")
    serve.add_argument("--sf-port", type=int, metavar="P", help="Salesforce port, 0 = any free port "
                       "(default: [sandbox] sf_port)")
    serve.add_argument("--hs-port", type=int, metavar="P", help="HubSpot port, 0 = any free port "
                       "(default: [sandbox] hs_port)")
    serve.add_argument("--tls-name", action="append", default=[], metavar="NAME",
                       help="extra host name or IP in the certificate (repeatable), e.g. login.salesforce.com "
                            "for a hosts-file entry")
    serve.add_argument("--dir", type=Path, metavar="DIR",
                       help="where to write the CA certificate (default: a temporary directory removed on exit)")
    serve.add_argument("--no-rate-limits", action="store_true",
                       help="turn off the HubSpot emulator's 10-second, daily and search limits")
    serve.set_defaults(func=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from leadsync.sandbox.runtime import Sandbox

    settings = settings_from(args).sandbox
    persons = settings.persons if args.persons is None else args.persons
    seed = settings.seed if args.seed is None else args.seed
    sf_port = settings.sf_port if args.sf_port is None else args.sf_port
    hs_port = settings.hs_port if args.hs_port is None else args.hs_port
    if persons < 1:
        raise CliError(f"--persons must be at least 1, got {persons}", exit_code=2)
    for flag, port in (("--sf-port", sf_port), ("--hs-port", hs_port)):
        if not 0 <= port <= 65535:
            raise CliError(f"{flag} must be between 0 and 65535, got {port}", exit_code=2)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox(persons=persons, seed=seed, sf_port=sf_port, hs_port=hs_port, tls_names=args.tls_name,
                      directory=args.dir, rate_limits=not args.no_rate_limits)
    try:
        try:
            sandbox.start()
        except OSError as exc:
            raise CliError(f"cannot start the sandbox: {exc}") from exc
        for key, value in sandbox.env().items():
            print(f"{key}={value}", flush=True)
        counts = sandbox.org.truth.counts
        print(f"leadsync: sandbox ready ({counts['persons']} persons, {counts['activities']} activities); "
              "Ctrl-C stops it", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("leadsync: sandbox stopped", file=sys.stderr, flush=True)
    return 0
