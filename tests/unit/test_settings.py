from __future__ import annotations

from pathlib import Path

import pytest

from leadsync.config.settings import ConfigError, load_settings
from tests.conftest import EXAMPLE_CONFIG


def test_example_config_loads_with_sandbox_enabled(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(EXAMPLE_CONFIG)
    assert settings.sandbox.enabled is True
    assert settings.ledger.url == f"sqlite:///{EXAMPLE_CONFIG.parent / 'leadsync.db'}"
    assert settings.daemon.mappings_dir == EXAMPLE_CONFIG.parent / "mappings"
    assert settings.hubspot.burst_per_10s == 190


def test_environment_overrides_file(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LEADSYNC__LEDGER__URL", "postgresql+psycopg://x@h/db")
    clean_env.setenv("LEADSYNC__SCHEDULE__SYNC_INTERVAL_SECONDS", "15")
    settings = load_settings(EXAMPLE_CONFIG)
    assert settings.ledger.url == "postgresql+psycopg://x@h/db"
    assert settings.schedule.sync_interval_seconds == 15


def test_leadsync_config_variable_is_used(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[daemon]\nhealth_port = 9999\n')
    clean_env.setenv("LEADSYNC_CONFIG", str(cfg))
    assert load_settings().daemon.health_port == 9999


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[ledger]\nurll = 'x'\n", "[ledger] urll <- unknown key"),
        ("[nope]\na = 1\n", "[nope] (section) <- unknown section"),
        ("[schedule]\nsync_interval_seconds = 'often'\n", "[schedule] sync_interval_seconds <- "),
        ("[schedule]\nrescore_at = '25:00'\n", "[schedule] rescore_at <- "),
        ("[hubspot]\naccess_token = 'pat-na1-123'\n", "[hubspot] access_token <- secrets are not read"),
    ],
)
def test_bad_config_is_reported_as_section_key_why(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, text: str, expected: str
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems
    # The secret value itself is never echoed back.
    assert "pat-na1-123" not in str(info.value)


def test_unknown_environment_key_is_an_error(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LEADSYNC__LEDGER__BOGUS", "1")
    with pytest.raises(ConfigError) as info:
        load_settings(EXAMPLE_CONFIG)
    assert info.value.problems == ["[ledger] bogus <- unknown key"]


def test_secrets_come_from_environment_or_file_and_never_print(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "hs-token"
    token_file.write_text("pat-from-file\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[hubspot]\naccess_token_file = "hs-token"\n')
    clean_env.setenv("LEADSYNC__SALESFORCE__PASSWORD", "hunter2")
    settings = load_settings(cfg)
    assert settings.secret("hubspot", "access_token") == "pat-from-file"
    assert settings.secret("salesforce", "password") == "hunter2"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


def test_missing_config_file_is_clear(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "absent.toml")
