"""Every shipped rule file loads, and broken copies are rejected with located errors (via the CLI too)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from leadsync.cli.main import main
from leadsync.rules.ruleset import KNOWN_FILES, load_ruleset
from leadsync.rules.source import RuleSetError
from tests.conftest import MAPPINGS


def copy_mappings(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, target)
    return target


def test_shipped_mappings_load_into_one_versioned_ruleset() -> None:
    ruleset = load_ruleset(MAPPINGS)
    assert set(ruleset.sources) == KNOWN_FILES == {p.name for p in MAPPINGS.glob("*.toml")}
    assert len(ruleset.version) == 12
    # One version stamps every concern, so a score or transition names the whole set that made it.
    for concern in (ruleset.scoring, ruleset.grading, ruleset.hygiene, ruleset.lifecycle,
                    ruleset.contact_status, ruleset.fields, ruleset.sla, ruleset.routing):
        assert concern.version == ruleset.version
    assert ruleset.lifecycle.status_names()[:3] == ("Raw", "Inquiry", "MQL")


def test_version_ignores_comments_but_not_meaning(tmp_path: Path) -> None:
    folder = copy_mappings(tmp_path)
    base = load_ruleset(folder).version
    scoring = folder / "scoring.toml"
    scoring.write_text("# an admin's note\n" + scoring.read_text())
    assert load_ruleset(folder).version == base
    grading = folder / "grading.toml"
    text = grading.read_text()
    assert "points = 10" in text
    grading.write_text(text.replace("points = 10", "points = 11", 1))
    assert load_ruleset(folder).version != base


def test_errors_from_every_file_are_reported_together(tmp_path: Path) -> None:
    folder = copy_mappings(tmp_path)
    (folder / "scoring.toml").write_text("surprise = 1\n" + (folder / "scoring.toml").read_text())
    (folder / "grading.toml").write_text("this is = = not toml\n")
    (folder / "scorng.toml").write_text("")
    (folder / "hygiene.toml").unlink()
    with pytest.raises(RuleSetError) as info:
        load_ruleset(folder)
    by_file = {Path(e.file).name: e for e in info.value.errors}
    assert by_file["scoring.toml"].key == "surprise" and by_file["scoring.toml"].line is not None
    assert by_file["grading.toml"].line == 1 and "malformed TOML" in by_file["grading.toml"].message
    assert "unknown rule file" in by_file["scorng.toml"].message
    assert "missing" in by_file["hygiene.toml"].message


def test_sla_naming_an_unknown_status_is_located(tmp_path: Path) -> None:
    folder = copy_mappings(tmp_path)
    sla = folder / "sla.toml"
    text = sla.read_text()
    assert '"SAL"' in text
    sla.write_text(text.replace('"SAL"', '"Accepted"', 1))
    with pytest.raises(RuleSetError) as info:
        load_ruleset(folder)
    (error,) = info.value.errors
    assert Path(error.file).name == "sla.toml" and error.line is not None and "Accepted" in error.message


def test_cli_validate_accepts_shipped_and_rejects_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mappings", "validate", str(MAPPINGS)]) == 0
    assert "valid, rule-set version" in capsys.readouterr().out
    folder = copy_mappings(tmp_path)
    scoring = folder / "scoring.toml"
    scoring.write_text(scoring.read_text() + "\n[decay_typo]\nx = 1\n")
    assert main(["mappings", "validate", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "scoring.toml:" in err and "decay_typo" in err and "unknown key" in err


def test_cli_validate_uses_config_mappings_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              clean_env: pytest.MonkeyPatch) -> None:
    folder = copy_mappings(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[daemon]\nmappings_dir = "{folder.name}"\n')
    assert main(["mappings", "validate", "--config", str(cfg)]) == 0
    assert str(folder) in capsys.readouterr().out
