"""Stable rule-set versions: a content hash that travels with every score and transition."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def content_version(documents: Mapping[str, Any]) -> str:
    """Hash parsed rule documents canonically: comments and key order never change the version,
    any change of meaning does. ``documents`` maps a file's name to its parsed content."""
    canonical = json.dumps(documents, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
