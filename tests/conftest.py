"""Shared fixtures. PostgreSQL tests take their URL from LEADSYNC_TEST_PG_URL; when LEADSYNC_REQUIRE_PG
is set (CI does), a missing or unreachable server fails the run instead of skipping."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = ROOT / "mappings"
EXAMPLE_CONFIG = ROOT / "config.example.toml"


@pytest.fixture
def mappings_dir() -> Path:
    return MAPPINGS


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No LEADSYNC_* variable from the developer's shell leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("LEADSYNC_") and not name.startswith("LEADSYNC_TEST_") and name != "LEADSYNC_REQUIRE_PG":
            monkeypatch.delenv(name)
    return monkeypatch
