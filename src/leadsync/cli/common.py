"""Pieces every command shares: the ``--config`` option, settings loading, clean failures."""

from __future__ import annotations

import argparse

from leadsync.config.settings import Settings, load_settings


class CliError(Exception):
    """An expected failure: printed as one line, exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def common_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="settings file (default: $LEADSYNC_CONFIG, else built-in defaults)",
    )
    return parent


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))
