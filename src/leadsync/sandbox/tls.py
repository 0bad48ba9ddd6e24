"""TLS on loopback with a throwaway CA, so the real clients verify certificates as they do in production.

The CA is generated at start (``trustme``) and written to a PEM file whose path the connectors take as
their CA bundle. No certificate check is ever turned off anywhere in leadsync.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import trustme

DEFAULT_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass
class SandboxTLS:
    """A CA plus one server certificate for loopback and any extra names (``--tls-name``)."""

    ca: trustme.CA
    server_cert: trustme.LeafCert
    ca_path: Path

    @classmethod
    def create(cls, directory: Path, extra_names: Iterable[str] = ()) -> SandboxTLS:
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="leadsync sandbox")
        names = list(dict.fromkeys([*DEFAULT_NAMES, *extra_names]))
        cert = ca.issue_cert(*names)
        ca_path = directory / "sandbox-ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        return cls(ca=ca, server_cert=cert, ca_path=ca_path)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.server_cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context
