"""Rule files in ``mappings/``: TOML, validated into strict pydantic models, then turned into the pure
core's frozen dataclasses. Nothing in ``leadsync.domain`` imports from here."""
