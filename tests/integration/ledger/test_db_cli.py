"""``leadsync db`` as a user runs it: through ``leadsync.cli.main.main``, output and exit codes checked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from leadsync.cli.main import main
from leadsync.ledger import SchemaState, head_revision, status, upgrade
from leadsync.ledger.engine import make_engine


def _run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, *args: str
) -> tuple[int, str, str]:
    monkeypatch.setenv("LEADSYNC__LEDGER__URL", url)
    code = main(["db", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_clean_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("leadsync: ") and "Traceback" not in err
    return lines[0]


def test_upgrade_current_downgrade(
    empty_url: str, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    head = head_revision()
    assert _run(clean_env, capsys, empty_url, "current")[:2] == (
        0,
        f"no schema (head is {head}; run `leadsync db upgrade`)\n",
    )

    code, out, _ = _run(clean_env, capsys, empty_url, "upgrade")
    assert code == 0 and out.endswith(f"upgraded from empty to {head} (head)\n")
    assert status(empty_url).state is SchemaState.CURRENT

    code, out, _ = _run(clean_env, capsys, empty_url, "upgrade")
    assert code == 0 and out.endswith(f"already at {head} (head)\n")
    assert _run(clean_env, capsys, empty_url, "current")[:2] == (0, f"{head} (head)\n")

    code, out, _ = _run(clean_env, capsys, empty_url, "downgrade", "base")
    assert code == 0 and out.endswith(f"downgraded from {head} to base\n")
    assert status(empty_url).state is SchemaState.EMPTY


def test_ledger_url_from_a_config_file(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "leadsync.toml"
    config.write_text('[ledger]\nurl = "sqlite:///data/ledger.db"\n', encoding="utf-8")
    (tmp_path / "data").mkdir()
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert status(f"sqlite:///{tmp_path}/data/ledger.db").state is SchemaState.CURRENT


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://app:s3cret@db.example/leadsync", "only sqlite and postgresql"),
        ("postgresql+psycopg://app:s3cret@127.0.0.1:1/leadsync", "cannot connect to ledger"),
        ("sqlite:////nonexistent-folder/ledger.db", "cannot open ledger"),
    ],
)
@pytest.mark.parametrize("action", [["upgrade"], ["current"], ["downgrade", "base"]])
def test_bad_urls_fail_in_one_line_without_secrets(
    url: str, expected: str, action: list[str], clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(clean_env, capsys, url, *action)
    assert code == 1 and out == ""
    line = _one_clean_line(err)
    assert expected in line
    assert "s3cret" not in line


def test_a_schema_newer_than_the_code(
    empty_url: str, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    for action in (["current"], ["upgrade"], ["downgrade", "-1"]):
        code, _, err = _run(clean_env, capsys, empty_url, *action)
        assert code == 1
        assert "9999" in _one_clean_line(err) and "upgrade leadsync" in err
    assert status(empty_url).revision == "9999"


def test_an_unknown_revision(empty_url: str, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    upgrade(empty_url)
    code, _, err = _run(clean_env, capsys, empty_url, "downgrade", "abc123")
    assert code == 1 and "'abc123'" in _one_clean_line(err)
    assert status(empty_url).revision == head_revision()


def test_a_locked_sqlite_file(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ledger.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process mid-write, holding the lock
    try:
        code, _, err = _run(clean_env, capsys, f"sqlite:///{path}?timeout=0.2", "upgrade")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 1
    assert "is locked by another process" in _one_clean_line(err)
    assert status(f"sqlite:///{path}").state is SchemaState.EMPTY  # nothing half-written
