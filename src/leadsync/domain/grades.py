"""The grade scale, shared by grading (which produces letters) and lifecycle (which compares them)."""

from __future__ import annotations

# Lowest to highest, in thirds of a letter (Pardot-style). F has no plus or minus.
GRADES: tuple[str, ...] = (
    "F", "D-", "D", "D+", "C-", "C", "C+", "B-", "B", "B+", "A-", "A", "A+",
)
_RANK = {letter: index for index, letter in enumerate(GRADES)}


def grade_rank(letter: str) -> int:
    """Position of ``letter`` on the scale (F = 0, A+ = 12); ValueError for anything else."""
    try:
        return _RANK[letter]
    except KeyError:
        raise ValueError(f"not a grade: {letter!r} (expected one of {', '.join(GRADES)})") from None


def grade_at_least(letter: str | None, threshold: str) -> bool:
    """True when ``letter`` is ``threshold`` or better; an unknown grade (None) never qualifies."""
    return letter is not None and grade_rank(letter) >= grade_rank(threshold)


def grade_from_rank(rank: int) -> str:
    """The letter at ``rank``, clamped to the scale."""
    return GRADES[max(0, min(len(GRADES) - 1, rank))]
