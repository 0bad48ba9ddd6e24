"""Both emulators, one throwaway CA, one synthetic org: the sandbox as a single object.

``Sandbox`` is what `leadsync sandbox serve`, `leadsync demo`, the integration tests and the benches
start. It writes the CA certificate to a directory (given, or a temporary one removed on stop), seeds
both emulators with one generated org, serves them over TLS on loopback and says how to reach them::

    with Sandbox(persons=200, seed=7) as sandbox:
        sandbox.env()  # {"LEADSYNC_SANDBOX_SF_URL": "https://127.0.0.1:PORT", ...}

Credentials are random per start, so nothing that talks to a sandbox can work by accident with a
hard-coded secret. The emulators are imported only when a sandbox starts, so this module imports even
where they are not installed or not finished.
"""

from __future__ import annotations

import secrets
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from leadsync.sandbox.orggen import SyntheticOrg, generate_org
from leadsync.sandbox.server import SandboxClock
from leadsync.sandbox.tls import SandboxTLS

if TYPE_CHECKING:
    from leadsync.sandbox.hubspot.emulator import HubSpotEmulator
    from leadsync.sandbox.salesforce.emulator import SalesforceEmulator

LOOPBACK = "127.0.0.1"


class Sandbox:
    """Salesforce and HubSpot emulators on loopback TLS, seeded with one synthetic org.

    ``org`` (an already generated org) wins over ``persons``/``seed``/``activities_per_person``.
    ``rate_limits=False`` turns off HubSpot's rolling, daily and search limits (benches, bulk tests);
    ``hubspot_options``/``salesforce_options`` pass further keyword arguments to the emulators.
    """

    def __init__(self, *, persons: int = 300, seed: int = 42, activities_per_person: float = 10,
                 org: SyntheticOrg | None = None, now: datetime | None = None,
                 directory: Path | None = None, sf_port: int = 0, hs_port: int = 0,
                 tls_names: Iterable[str] = (), rate_limits: bool = True,
                 salesforce_options: Mapping[str, Any] | None = None,
                 hubspot_options: Mapping[str, Any] | None = None) -> None:
        self.persons, self.seed, self.activities_per_person = persons, seed, activities_per_person
        self._org, self._now = org, now
        self._directory = directory
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None
        self.sf_port, self.hs_port = sf_port, hs_port
        self.tls_names = tuple(tls_names)
        self.rate_limits = rate_limits
        self._sf_options = dict(salesforce_options or {})
        self._hs_options = dict(hubspot_options or {})
        self.clock = SandboxClock()
        # The emulated org's own integration user: logins run as it, as leadsync's do in a real org.
        self.sf_username = "integration@leadsync.sandbox"
        self.sf_password = secrets.token_urlsafe(12)
        self.sf_security_token = secrets.token_urlsafe(18)
        self.sf_client_id = "3MVG9" + secrets.token_urlsafe(30)
        self.sf_client_secret = secrets.token_hex(32)
        self.hs_token = f"pat-na1-{uuid.uuid4()}"
        self.sf_jwt_key_path: Path | None = None
        self._tls: SandboxTLS | None = None
        self._sf: SalesforceEmulator | None = None
        self._hs: HubSpotEmulator | None = None

    # ----- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._sf is not None:
            raise RuntimeError("sandbox already started")
        try:
            directory = self._directory
            if directory is None:
                self._temp_dir = tempfile.TemporaryDirectory(prefix="leadsync-sandbox-")
                directory = Path(self._temp_dir.name)
            self._tls = SandboxTLS.create(directory, self.tls_names)
            org = self.org
            context = self._tls.server_context()
            self._hs = self._build_hubspot(org)
            self._hs.start(context, LOOPBACK, self.hs_port)
            self.sf_jwt_key_path = directory / "sf-jwt-key.pem"
            self._sf = self._build_salesforce(org, _write_jwt_key(self.sf_jwt_key_path))
            self._sf.start(context, LOOPBACK, self.sf_port)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers and remove the temporary directory; safe to call more than once."""
        for emulator in (self._sf, self._hs):
            if emulator is not None:
                emulator.stop()
        self._sf = self._hs = None
        if self._temp_dir is not None:
            self._temp_dir.cleanup()
            self._temp_dir = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # ----- building the emulators ----------------------------------------------------------------
    def _build_hubspot(self, org: SyntheticOrg) -> HubSpotEmulator:
        from leadsync.sandbox.hubspot.emulator import HubSpotEmulator

        options: dict[str, Any] = {"seed": self.seed}
        if not self.rate_limits:
            options.update(burst_per_10s=None, daily_limit=None, search_per_second=None)
        options.update(self._hs_options)
        emulator = HubSpotEmulator(self.hs_token, clock=self.clock, **options)
        emulator.load_org(org.hubspot)
        return emulator

    def _build_salesforce(self, org: SyntheticOrg, jwt_public_key: str) -> SalesforceEmulator:
        from leadsync.sandbox.salesforce.auth import Credentials
        from leadsync.sandbox.salesforce.emulator import SalesforceEmulator

        credentials = Credentials(username=self.sf_username, password=self.sf_password,
                                  security_token=self.sf_security_token, client_id=self.sf_client_id,
                                  client_secret=self.sf_client_secret, jwt_public_key=jwt_public_key)
        emulator = SalesforceEmulator(credentials, clock=self.clock, **self._sf_options)
        emulator.load_org(org.salesforce)
        return emulator

    # ----- what clients need ---------------------------------------------------------------------
    @property
    def org(self) -> SyntheticOrg:
        if self._org is None:
            now = self._now or self.clock.now()
            self._org = generate_org(self.persons, self.seed, activities_per_person=self.activities_per_person,
                                     now=now.astimezone(UTC))
        return self._org

    @property
    def sf(self) -> SalesforceEmulator:
        if self._sf is None:
            raise RuntimeError("sandbox not started")
        return self._sf

    @property
    def hs(self) -> HubSpotEmulator:
        if self._hs is None:
            raise RuntimeError("sandbox not started")
        return self._hs

    @property
    def ca_path(self) -> Path:
        if self._tls is None:
            raise RuntimeError("sandbox not started")
        return self._tls.ca_path

    @property
    def tls(self) -> SandboxTLS:
        if self._tls is None:
            raise RuntimeError("sandbox not started")
        return self._tls

    @property
    def sf_url(self) -> str:
        return self.sf.base_url

    @property
    def hs_url(self) -> str:
        return self.hs.base_url

    def env(self) -> dict[str, str]:
        """Everything a client needs, as the ``LEADSYNC_SANDBOX_*`` variables `sandbox serve` prints."""
        return {
            "LEADSYNC_SANDBOX_SF_URL": self.sf_url,
            "LEADSYNC_SANDBOX_SF_USERNAME": self.sf_username,
            "LEADSYNC_SANDBOX_SF_PASSWORD": self.sf_password,
            "LEADSYNC_SANDBOX_SF_SECURITY_TOKEN": self.sf_security_token,
            "LEADSYNC_SANDBOX_SF_CLIENT_ID": self.sf_client_id,
            "LEADSYNC_SANDBOX_SF_CLIENT_SECRET": self.sf_client_secret,
            "LEADSYNC_SANDBOX_SF_JWT_KEY": str(self.sf_jwt_key_path),
            "LEADSYNC_SANDBOX_HS_URL": self.hs_url,
            "LEADSYNC_SANDBOX_HS_TOKEN": self.hs_token,
            "LEADSYNC_SANDBOX_CA": str(self.ca_path),
        }


def _write_jwt_key(path: Path) -> str:
    """A fresh RSA key for the JWT bearer flow: the private half goes to ``path`` (owner-only), the
    public half (returned, PEM) is registered with the Salesforce emulator as the connected app's."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(private)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return public.decode("ascii")
