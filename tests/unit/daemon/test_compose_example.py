"""The compose example's leadsync environment is accepted by the settings loader, so it cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from leadsync.config.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]
ENV_LINE = re.compile(r"^\s+(LEADSYNC__[A-Z_]+):\s*(\S+)", re.MULTILINE)


def test_every_leadsync_variable_in_the_compose_example_is_a_valid_setting(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found = dict(ENV_LINE.findall((ROOT / "docker-compose.example.yml").read_text(encoding="utf-8")))
    assert len(found) >= 6
    for name, raw in found.items():
        value = raw.strip('"')
        if value.startswith("/run/secrets/"):  # secret files exist in the container; here, in tmp
            value = str(tmp_path / Path(value).name)
            Path(value).write_text("s3cret-value\n", encoding="utf-8")
        clean_env.setenv(name, value)
    settings = load_settings(None)
    assert settings.ledger.url.startswith("postgresql+psycopg://leadsync@db/")
    assert settings.sandbox.enabled is False and settings.daemon.health_host == "0.0.0.0"  # noqa: S104
    assert settings.secret("hubspot", "access_token") == "s3cret-value"
