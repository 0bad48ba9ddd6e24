from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from leadsync.rules.source import RuleSetError, parse_toml, validate

TEXT = """\
# comment
version_note = "x"

[decay]
half_life_days = 30

[[rules]]
name = "a"
points = 5

[[rules]]
name = "b"
points = "lots"
"""


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    points: int


class Decay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    half_life_days: float


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version_note: str
    decay: Decay
    rules: list[Rule]


def test_line_of_finds_tables_arrays_and_keys() -> None:
    _, source = parse_toml(TEXT, "scoring.toml")
    assert source.line_of(("version_note",)) == 2
    assert source.line_of(("decay", "half_life_days")) == 5
    assert source.line_of(("rules", 0, "points")) == 9
    assert source.line_of(("rules", 1, "points")) == 13
    assert source.line_of(("rules", 1, "missing")) == 11


def test_validation_errors_name_file_line_and_key() -> None:
    data, source = parse_toml(TEXT.replace('"x"', '"x"\nsurprise = 1'), "scoring.toml")
    with pytest.raises(RuleSetError) as info:
        validate(Doc, data, source)
    rendered = sorted(str(e) for e in info.value.errors)
    assert any(r.startswith("scoring.toml:3: [surprise] unknown key") for r in rendered), rendered
    assert any(r.startswith("scoring.toml:14: [rules[1].points]") for r in rendered), rendered


def test_malformed_toml_names_the_line() -> None:
    with pytest.raises(RuleSetError) as info:
        parse_toml("a = 1\nb = = 2\n", "grading.toml")
    (error,) = info.value.errors
    assert error.file == "grading.toml" and error.line == 2
    assert "malformed TOML" in error.message
