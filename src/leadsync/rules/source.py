"""Reading rule files so that every error names the file, the line and the key path.

``tomllib`` gives no positions for parsed values, so :class:`SourceFile` keeps the text and maps a key
path (as pydantic reports it in ``loc``) back to the line that defines it: table headers, arrays of
tables, dotted and quoted keys. Where a value sits inside an inline table or array the nearest enclosing
key's line is given, which is where an admin would look anyway.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

KeyPath = tuple[str | int, ...]

_TABLE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+))*)\s*=""")
_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def _split_dotted(raw: str) -> tuple[str, ...]:
    parts: list[str] = []
    for m in re.finditer(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_\-]+)""", raw):
        parts.append(next(g for g in m.groups() if g is not None))
    return tuple(parts)


def _within_arrays(names: tuple[str, ...], array_counts: dict[tuple[str, ...], int]) -> KeyPath:
    """``[status.enter]`` after ``[[status]]`` belongs to the latest status: put its index in the path."""
    for cut in range(len(names) - 1, 0, -1):
        if names[:cut] in array_counts:
            return (*names[:cut], array_counts[names[:cut]] - 1, *names[cut:])
    return names


@dataclass(frozen=True, slots=True)
class RuleError:
    """One problem in one rule file, located as precisely as the parser allows."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        key = f" [{self.key}]" if self.key else ""
        return f"{where}:{key} {self.message}"


class RuleSetError(Exception):
    """A rule set that must not be used; carries every error found, not just the first."""

    def __init__(self, errors: Sequence[RuleError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def format_key(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class SourceFile:
    """A rule file's name and text, with a key-path -> line index built on first use."""

    name: str
    text: str
    _lines: dict[KeyPath, int] = field(default_factory=dict, repr=False)
    _indexed: bool = field(default=False, repr=False)

    def _index(self) -> None:
        table: KeyPath = ()
        array_counts: dict[tuple[str, ...], int] = {}
        for number, line in enumerate(self.text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            header = _TABLE.match(line)
            if header and not _KEY.match(line):
                names = _split_dotted(header.group(2))
                if header.group(1) == "[[":
                    index = array_counts.get(names, 0)
                    array_counts[names] = index + 1
                    table = (*names, index)
                    self._lines.setdefault(names, number)
                else:
                    table = _within_arrays(names, array_counts)
                self._lines.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key:
                path = (*table, *_split_dotted(key.group(1)))
                self._lines.setdefault(path, number)
        self._indexed = True

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line defining ``path``, or of its nearest enclosing key that has one."""
        if not self._indexed:
            self._index()
        probe = tuple(path)
        while probe:
            if probe in self._lines:
                return self._lines[probe]
            probe = probe[:-1]
        return None

    def error(self, path: Sequence[str | int], message: str) -> RuleError:
        return RuleError(self.name, self.line_of(path), format_key(path), message)


def read_toml(path: Path, display_name: str | None = None) -> tuple[dict[str, Any], SourceFile]:
    """Parse one TOML file; a syntax error becomes a located :class:`RuleSetError`."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleSetError([RuleError(name, None, "", f"cannot read file: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise RuleSetError([RuleError(name, None, "", f"not UTF-8 text: {exc.reason}")]) from exc
    return parse_toml(text, name)


def parse_toml(text: str, name: str) -> tuple[dict[str, Any], SourceFile]:
    source = SourceFile(name, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POS.search(str(exc))
        line = int(match.group(1)) if match else None
        message = _TOML_POS.sub("", str(exc)).strip()
        raise RuleSetError([RuleError(name, line, "", f"malformed TOML: {message}")]) from exc
    return data, source


M = TypeVar("M", bound=BaseModel)


def pydantic_errors(exc: ValidationError, source: SourceFile) -> list[RuleError]:
    errors = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        errors.append(source.error(loc, message))
    return errors


def validate(model: type[M], data: dict[str, Any], source: SourceFile) -> M:
    """Validate ``data`` into ``model`` (which should forbid extra keys); errors carry file and line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RuleSetError(pydantic_errors(exc, source)) from exc
