"""The pure lead-management core. Standard library only; ``now`` is always an argument; no I/O."""
