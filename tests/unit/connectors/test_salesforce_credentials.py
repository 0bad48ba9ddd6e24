"""Salesforce credentials from settings: each flow's required pieces, named like the config keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from leadsync.config.settings import ConfigError, SalesforceSettings, Settings
from leadsync.connectors.policy import Timeouts
from leadsync.connectors.salesforce_auth import (
    PRODUCTION_LOGIN_URL,
    SANDBOX_LOGIN_URL,
    SalesforceCredentials,
    build_http_session,
)
from leadsync.logging import redact_text


def test_jwt_settings_read_the_private_key_file(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    key = tmp_path / "server.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n", encoding="utf-8")
    settings = Settings(salesforce=SalesforceSettings(
        auth="jwt", login_url=SANDBOX_LOGIN_URL, client_id="cid", username="u@example.com", private_key_file=key,
        timeout_seconds=20,
    ))
    credentials = SalesforceCredentials.from_settings(settings)
    assert credentials.flow == "jwt"
    assert credentials.token_url == "https://test.salesforce.com/services/oauth2/token"
    assert credentials.private_key is not None and "BEGIN PRIVATE KEY" in credentials.private_key
    assert credentials.timeouts == Timeouts(connect=10.0, read=20.0)
    assert "BEGIN PRIVATE KEY" not in repr(credentials)


@pytest.mark.parametrize(
    ("section", "missing"),
    [
        ({"auth": "jwt", "client_id": "cid"}, ["username", "private_key_file"]),
        ({"auth": "client_credentials", "client_id": "cid"}, ["client_secret"]),
        ({"auth": "username_password", "username": "u"}, ["client_id", "password"]),
    ],
)
def test_missing_pieces_are_reported_per_key(
    section: dict[str, str], missing: list[str], clean_env: pytest.MonkeyPatch
) -> None:
    settings = Settings(salesforce=SalesforceSettings(**section))  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as caught:
        SalesforceCredentials.from_settings(settings)
    assert [p.split(" <- ")[0] for p in caught.value.problems] == [f"[salesforce] {key}" for key in missing]


def test_unreadable_key_file_names_the_key(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings(salesforce=SalesforceSettings(
        auth="jwt", client_id="cid", username="u", private_key_file=tmp_path / "absent.key"))
    with pytest.raises(ConfigError, match=r"\[salesforce\] private_key_file <- cannot read"):
        SalesforceCredentials.from_settings(settings)


def test_explicit_arguments_override_settings_and_secrets_are_registered_for_redaction(
    clean_env: pytest.MonkeyPatch,
) -> None:
    settings = Settings(salesforce=SalesforceSettings(
        auth="username_password", client_id="cid", username="u", password=SecretStr("settings-pass-1")))
    credentials = SalesforceCredentials.from_settings(settings, login_url=PRODUCTION_LOGIN_URL,
                                                      password="override-pass-2")
    assert credentials.password == "override-pass-2"
    assert redact_text("sent override-pass-2") == "sent ***"


def test_http_session_pins_the_ca_bundle_and_ignores_the_environment(tmp_path: Path) -> None:
    pinned = build_http_session(ca_bundle=tmp_path / "ca.pem", timeouts=Timeouts())
    assert (pinned.verify, pinned.trust_env) == (str(tmp_path / "ca.pem"), False)
    system = build_http_session(ca_bundle=None, timeouts=Timeouts(connect=1.0, read=2.0))
    assert (system.verify, system.trust_env) == (True, True)
    assert system.default_timeout == (1.0, 2.0)
