"""The container HEALTHCHECK's address choice and its answer when nothing listens."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from leadsync.daemon.healthcheck import health_url, main


@pytest.mark.parametrize(("host", "expected"), [
    ("0.0.0.0", "http://127.0.0.1:8321/healthz"),  # noqa: S104 - a configured value, not a bind
    ("", "http://127.0.0.1:8321/healthz"),
    ("::", "http://127.0.0.1:8321/healthz"),
    ("10.0.0.5", "http://10.0.0.5:8321/healthz"),
    ("::1", "http://[::1]:8321/healthz"),
])
def test_the_probe_address_follows_the_configured_host(host: str, expected: str) -> None:
    assert health_url(host, 8321) == expected


def test_nothing_listening_is_unhealthy_with_the_address_said(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free once closed: nothing listens there
    config = tmp_path / "config.toml"
    config.write_text(f"[daemon]\nhealth_port = {port}\n", encoding="utf-8")
    assert main(["--config", str(config), "--timeout", "2"]) == 1
    assert f"unhealthy: http://127.0.0.1:{port}/healthz" in capsys.readouterr().err


def test_a_broken_config_is_unhealthy_not_a_crash(tmp_path: Path, clean_env: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "missing.toml")]) == 1
    assert "file not found" in capsys.readouterr().err
