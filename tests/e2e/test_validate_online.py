"""`leadsync mappings validate --online` and `leadsync sync --once` against a hostile org, as a user runs
them: real subprocesses over HTTPS to the sandbox emulators, exit codes, output, and the emulators' own
call counters (a failed preflight writes nothing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadsync.sandbox.runtime import Sandbox

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
SF_WRITES = ("composite.sobjects", "composite.sobjects.create", "composite.sobjects.upsert", "sobject.update",
             "sobject.create", "sobject.delete", "composite.sobjects.delete")
HS_WRITES = ("contacts.batch_update", "contacts.update", "contacts.create", "contacts.batch_create")


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if text in line)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(persons=12, seed=8, rate_limits=False, directory=tmp_path / "sandbox") as running:
        yield running


def leadsync(sandbox: Sandbox, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = workdir / "leadsync.toml"
    if not config.exists():
        config.write_text(f'[ledger]\nurl = "sqlite:///leadsync.db"\n[daemon]\nmappings_dir = "{MAPPINGS}"\n'
                          'log_level = "warning"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
    env.update(sandbox.env())
    return subprocess.run([sys.executable, "-m", "leadsync", "--config", str(config), *args],
                          capture_output=True, text=True, env=env, cwd=workdir, timeout=300)


def reset(sandbox: Sandbox) -> None:
    sandbox.sf.counters.reset()
    sandbox.hs.counters.reset()


def write_calls(sandbox: Sandbox) -> int:
    sf, hs = sandbox.sf.counters.snapshot(), sandbox.hs.counters.snapshot()
    return sum(sf.get(name, 0) for name in SF_WRITES) + sum(hs.get(name, 0) for name in HS_WRITES)


def break_portal(sandbox: Sandbox) -> tuple[str, str]:
    """A mapped property made read-only and a picklist option removed; the two located lines expected."""
    sandbox.hs.change_property("contacts", "leadsync_score", read_only=True)
    sandbox.hs.change_property("contacts", "lifecyclestage", remove_options=("customer",))
    fields_toml = MAPPINGS / "fields.toml"
    score_line = line_of(fields_toml, 'field = "leadsync_score"')
    stage_line = line_of(fields_toml, 'field = "lifecyclestage"')
    return (f"{fields_toml}:{score_line}: hubspot contacts.leadsync_score: ",
            f"{fields_toml}:{stage_line}: hubspot contacts.lifecyclestage: ")


def test_validate_online_passes_the_shipped_mappings(sandbox: Sandbox, tmp_path: Path) -> None:
    reset(sandbox)
    result = leadsync(sandbox, tmp_path, "mappings", "validate", "--online")
    assert result.returncode == 0, result.stderr
    assert "ok  fields.toml" in result.stdout
    assert "every mapped field exists and every field leadsync writes accepts every value" in result.stdout
    assert "(hubspot 1 call, salesforce 2 calls)" in result.stdout
    assert sandbox.hs.counters.snapshot() == {"properties.list": 1}
    assert sandbox.sf.counters.snapshot().get("describe") == 2


def test_validate_online_names_every_broken_line_and_exits_1(sandbox: Sandbox, tmp_path: Path) -> None:
    score, stage = break_portal(sandbox)
    result = leadsync(sandbox, tmp_path, "mappings", "validate", "--online")
    assert result.returncode == 1
    fails = [line for line in result.stdout.splitlines() if line.startswith("  FAIL ")]
    assert len(fails) == 2
    assert fails[0].startswith(f"  FAIL {score}") and "read-only" in fails[0]
    assert fails[1].startswith(f"  FAIL {stage}") and "'customer'" in fails[1]
    assert "leadsync: preflight failed: 2 mapping line(s)" in result.stderr
    assert "Traceback" not in result.stderr
    offline = leadsync(sandbox, tmp_path, "mappings", "validate")  # offline the files alone are fine
    assert offline.returncode == 0, offline.stderr


def test_validate_online_checks_the_files_offline_first(sandbox: Sandbox, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(MAPPINGS, rules)
    (rules / "fields.toml").write_text((rules / "fields.toml").read_text(encoding="utf-8").replace(
        'value = "grade"', 'value = "gradee"', 1), encoding="utf-8")
    reset(sandbox)
    result = leadsync(sandbox, tmp_path, "mappings", "validate", "--online", str(rules))
    assert result.returncode == 1
    assert "the rule files are invalid" in result.stderr and "fields.toml:" in result.stderr
    assert sandbox.sf.counters.total() == 0 and sandbox.hs.counters.total() == 0  # never connected


def test_sync_once_refuses_to_write_with_a_failed_preflight(sandbox: Sandbox, tmp_path: Path) -> None:
    score, stage = break_portal(sandbox)
    reset(sandbox)
    refused = leadsync(sandbox, tmp_path, "sync", "--once")
    assert refused.returncode == 4, refused.stderr
    assert "Traceback" not in refused.stderr
    assert f"  {score}" in refused.stderr and f"  {stage}" in refused.stderr
    assert "preflight failed: 2 mapping lines" in refused.stderr
    assert write_calls(sandbox) == 0
    assert sandbox.hs.counters.snapshot() == {"properties.list": 1}  # not even a pull: only the describe
    assert set(sandbox.sf.counters.snapshot()) <= {"token", "describe"}

    dry = leadsync(sandbox, tmp_path, "sync", "--once", "--dry-run")
    assert dry.returncode == 4
    assert "dry run (nothing written, ledger unchanged)" in dry.stdout and "plan:" in dry.stdout
    assert f"  error: preflight: {score}" in dry.stdout and f"  error: preflight: {stage}" in dry.stdout
    assert write_calls(sandbox) == 0

    sandbox.hs.change_property("contacts", "leadsync_score", read_only=False)  # the admin fixes the portal
    sandbox.hs.change_property("contacts", "lifecyclestage", add_options=(("customer", "Customer"),))
    fixed = leadsync(sandbox, tmp_path, "sync", "--once")
    assert fixed.returncode == 0, fixed.stderr
    assert write_calls(sandbox) > 0  # the refusal above was the preflight's, not an empty plan


def test_daemon_with_a_failed_preflight_exits_at_start_with_the_lines(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "leadsync.toml").write_text(
        f'[ledger]\nurl = "sqlite:///leadsync.db"\nauto_upgrade = true\n'
        f'[daemon]\nmappings_dir = "{MAPPINGS}"\nlog_level = "warning"\nhealth_port = 0\n', encoding="utf-8")
    score, stage = break_portal(sandbox)
    reset(sandbox)
    result = leadsync(sandbox, tmp_path, "run")  # returns: the daemon does not stay up to retry in a loop
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"  {score}" in result.stderr and f"  {stage}" in result.stderr
    assert write_calls(sandbox) == 0
    assert sandbox.hs.counters.snapshot() == {"properties.list": 1}
