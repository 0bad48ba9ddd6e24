"""`leadsync sandbox serve` as a user runs it: a real process, real TLS, the real client libraries."""

from __future__ import annotations

import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest
from simple_salesforce import Salesforce

from leadsync.sandbox.orggen import generate_org

PERSONS, SEED = 50, 7
REQUIRED_KEYS = {
    "LEADSYNC_SANDBOX_SF_URL", "LEADSYNC_SANDBOX_SF_USERNAME", "LEADSYNC_SANDBOX_SF_PASSWORD",
    "LEADSYNC_SANDBOX_HS_URL", "LEADSYNC_SANDBOX_HS_TOKEN", "LEADSYNC_SANDBOX_CA",
}


class Served:
    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "leadsync", "sandbox", "serve", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.env = self._read_settings()
        self.directory: Path | None = None

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_settings(self) -> dict[str, str]:
        settings: dict[str, str] = {}
        while "LEADSYNC_SANDBOX_CA" not in settings:
            line = self.lines.get(timeout=60)
            if line is None:
                _, err = self.process.communicate(timeout=10)
                raise AssertionError(f"serve exited early: {err}")
            key, sep, value = line.rstrip("\n").partition("=")
            assert sep == "=" and key.startswith("LEADSYNC_SANDBOX_"), f"not a KEY=value line: {line!r}"
            settings[key] = value
        return settings

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str]:
        self.process.send_signal(sig)
        _, err = self.process.communicate(timeout=30)
        return self.process.returncode, err


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("sandbox")
    server = Served("--persons", str(PERSONS), "--seed", str(SEED), "--dir", str(directory),
                    "--tls-name", "login.salesforce.com", "--tls-name", "api.hubapi.com")
    server.directory = directory
    yield server
    if server.process.poll() is None:
        server.stop()


def _sf_login(env: dict[str, str], password: str | None = None) -> requests.Response:
    session = _session(env)
    return session.post(env["LEADSYNC_SANDBOX_SF_URL"] + "/services/oauth2/token", data={
        "grant_type": "password", "client_id": env["LEADSYNC_SANDBOX_SF_CLIENT_ID"],
        "client_secret": env["LEADSYNC_SANDBOX_SF_CLIENT_SECRET"], "username": env["LEADSYNC_SANDBOX_SF_USERNAME"],
        "password": password or env["LEADSYNC_SANDBOX_SF_PASSWORD"] + env["LEADSYNC_SANDBOX_SF_SECURITY_TOKEN"],
    }, timeout=30)


def _session(env: dict[str, str]) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE must not replace the sandbox CA
    session.verify = env["LEADSYNC_SANDBOX_CA"]
    return session


def test_prints_every_setting_a_client_needs(served: Served) -> None:
    env = served.env
    assert env.keys() >= REQUIRED_KEYS
    assert env["LEADSYNC_SANDBOX_SF_URL"].startswith("https://127.0.0.1:")
    assert env["LEADSYNC_SANDBOX_HS_URL"].startswith("https://127.0.0.1:")
    assert env["LEADSYNC_SANDBOX_SF_URL"] != env["LEADSYNC_SANDBOX_HS_URL"]
    ca = Path(env["LEADSYNC_SANDBOX_CA"])
    assert ca.parent == served.directory, "--dir holds the CA"
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_simple_salesforce_reads_the_generated_org(served: Served) -> None:
    env = served.env
    token = _sf_login(env).json()
    sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=_session(env))
    result = sf.query_all("SELECT Id, Email, Status FROM Lead ORDER BY Id")
    expected = generate_org(PERSONS, SEED, now=datetime.now(UTC))  # same seed: same records, ids and counts
    assert [r["Id"] for r in result["records"]] == sorted(lead["Id"] for lead in expected.salesforce["Lead"])
    contact = expected.salesforce["Contact"][0]
    assert sf.Contact.get(contact["Id"])["Email"] == contact["Email"]


def test_hubspot_client_searches_the_generated_portal(served: Served) -> None:
    env = served.env
    client = HubSpot(access_token=env["LEADSYNC_SANDBOX_HS_TOKEN"], host=env["LEADSYNC_SANDBOX_HS_URL"],
                     ssl_ca_cert=env["LEADSYNC_SANDBOX_CA"])
    expected = generate_org(PERSONS, SEED, now=datetime.now(UTC))
    wanted = next(c for c in expected.hubspot["contacts"] if c["properties"]["email"])
    page = client.crm.contacts.search_api.do_search(public_object_search_request=PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "email", "operator": "EQ",
                                     "value": wanted["properties"]["email"]}]}], properties=["email"], limit=10))
    assert [c.id for c in page.results] == [wanted["id"]]
    assert page.total == 1


def test_jwt_bearer_login_with_the_printed_key_and_client_id(served: Served) -> None:
    env = served.env
    key = Path(env["LEADSYNC_SANDBOX_SF_JWT_KEY"])
    assert key.stat().st_mode & 0o077 == 0, "the private key is readable by its owner only"
    claims = {"iss": env["LEADSYNC_SANDBOX_SF_CLIENT_ID"], "sub": env["LEADSYNC_SANDBOX_SF_USERNAME"],
              "aud": "https://login.salesforce.com", "exp": int(time.time()) + 180}
    assertion = jwt.encode(claims, key.read_text(), algorithm="RS256")
    reply = _session(env).post(env["LEADSYNC_SANDBOX_SF_URL"] + "/services/oauth2/token", timeout=30, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
    assert reply.status_code == 200, reply.text
    assert reply.json()["instance_url"] == env["LEADSYNC_SANDBOX_SF_URL"]


def test_wrong_credentials_get_the_real_error_shapes(served: Served) -> None:
    env = served.env
    reply = _sf_login(env, password="wrong-password")
    assert reply.status_code == 400
    assert reply.json() == {"error": "invalid_grant", "error_description": "authentication failure"}
    client = HubSpot(access_token="pat-na1-not-the-token", host=env["LEADSYNC_SANDBOX_HS_URL"],
                     ssl_ca_cert=env["LEADSYNC_SANDBOX_CA"])
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.get_page(limit=1)
    assert caught.value.status == 401


def test_certificate_covers_the_extra_tls_names_and_nothing_else(served: Served) -> None:
    env = served.env
    port = int(env["LEADSYNC_SANDBOX_SF_URL"].rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=env["LEADSYNC_SANDBOX_CA"])
    for name in ("login.salesforce.com", "api.hubapi.com", "127.0.0.1"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname=name) as tls:
            assert tls.version() is not None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname="example.org")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_both_emulators_cleanly(sig: int) -> None:
    server = Served("--persons", "20", "--seed", "1")
    url = server.env["LEADSYNC_SANDBOX_HS_URL"]
    ca = Path(server.env["LEADSYNC_SANDBOX_CA"])
    assert ca.is_file()
    code, err = server.stop(sig)
    assert code == 0, err
    assert "sandbox stopped" in err and "Traceback" not in err
    assert not ca.exists(), "without --dir the temporary directory is removed on exit"
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_bad_arguments_fail_with_a_clear_message() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
    done = subprocess.run([sys.executable, "-m", "leadsync", "sandbox", "serve", "--persons", "0"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "--persons must be at least 1" in done.stderr and done.stdout == ""
