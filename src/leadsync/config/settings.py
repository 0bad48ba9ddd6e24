"""Typed settings: a TOML file, overridden by ``LEADSYNC__SECTION__KEY`` environment variables.

Secrets (passwords, tokens, client secrets) are never read from the config file itself: they come from
the environment (``LEADSYNC__HUBSPOT__ACCESS_TOKEN``) or from a secret file named in the config
(``access_token_file = "/run/secrets/hubspot"``), and they are held as ``SecretStr`` so they never print.
Unknown keys are errors, reported as ``[section] key <- why``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "LEADSYNC_CONFIG"
ENV_PREFIX = "LEADSYNC__"

# Secret fields per section. Each may also be given as `<name>_file` in the config or the environment.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "salesforce": ("password", "security_token", "client_secret"),
    "hubspot": ("access_token",),
    "notifications": ("webhook_secret",),
}


class ConfigError(Exception):
    """Invalid settings; ``problems`` holds one ``[section] key <- why`` line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LedgerSettings(_Section):
    url: str = "sqlite:///leadsync.db"
    # Upgrade the schema at daemon start instead of refusing to start on an old one.
    auto_upgrade: bool = False
    echo_sql: bool = False


class SalesforceSettings(_Section):
    enabled: bool = True
    auth: Literal["username_password", "jwt", "client_credentials"] = "username_password"
    login_url: str = "https://login.salesforce.com"
    api_version: str = "59.0"
    username: str | None = None
    client_id: str | None = None
    private_key_file: Path | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    security_token: SecretStr | None = None
    security_token_file: Path | None = None
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    ca_bundle: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    # Share of the org's daily API allocation leadsync may spend before it stops cleanly.
    daily_share: float = Field(default=0.5, gt=0, le=1)
    overlap_seconds: int = Field(default=300, ge=0)


class HubSpotSettings(_Section):
    enabled: bool = True
    host: str = "https://api.hubapi.com"
    access_token: SecretStr | None = None
    access_token_file: Path | None = None
    ca_bundle: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    daily_share: float = Field(default=0.5, gt=0, le=1)
    burst_per_10s: int = Field(default=190, gt=0)
    search_per_second: float = Field(default=5.0, gt=0)
    daily_limit: int = Field(default=650_000, gt=0)
    # Each search window ends this far before server time: HubSpot's search index lags writes by seconds.
    lag_margin_seconds: int = Field(default=5, ge=0)
    # ... and starts this far before where the last completed read ended, so an entry the index showed later
    # than that margin is still read (re-reading is harmless: upserts are keyed on id and modstamp).
    overlap_seconds: int = Field(default=30, ge=0)


class ScheduleSettings(_Section):
    sync_interval_seconds: int = Field(default=60, gt=0)
    sla_sweep_interval_seconds: int = Field(default=300, gt=0)
    rescore_at: str = "03:00"
    reconcile_at: str = "02:00"
    misfire_grace_seconds: int = Field(default=600, ge=1)
    run_deadline_seconds: int = Field(default=900, gt=0)

    @field_validator("rescore_at", "reconcile_at")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        hours, _, minutes = value.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError("expected HH:MM (24-hour clock)")
        return value


class DaemonSettings(_Section):
    mappings_dir: Path = Path("mappings")
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=8321, ge=0, le=65535)
    shutdown_deadline_seconds: float = Field(default=30.0, gt=0)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Mass-change guard: a plan touching more than this share of people (and more than min) stops.
    max_change_share: float = Field(default=0.10, gt=0, le=1)
    max_change_min: int = Field(default=10, ge=0)
    # Nightly reconciliation repairs the drift it finds (ingests missing records, marks orphans deleted);
    # false: it only reports it.
    reconcile_repair: bool = True


class SandboxSettings(_Section):
    enabled: bool = True
    persons: int = Field(default=300, gt=0)
    seed: int = 42
    sf_port: int = Field(default=0, ge=0, le=65535)
    hs_port: int = Field(default=0, ge=0, le=65535)


class NotificationSettings(_Section):
    webhook_url: str | None = None
    slack_webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_secret_file: Path | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    ledger: LedgerSettings = LedgerSettings()
    salesforce: SalesforceSettings = SalesforceSettings()
    hubspot: HubSpotSettings = HubSpotSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    daemon: DaemonSettings = DaemonSettings()
    sandbox: SandboxSettings = SandboxSettings()
    notifications: NotificationSettings = NotificationSettings()

    # Where the settings came from; relative paths in the file are resolved against its folder.
    source_path: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Init holds the TOML file's content (see load_settings); the environment overrides it.
        return (env_settings, init_settings)

    def secret(self, section: str, name: str) -> str | None:
        """The plain value of a secret, from the environment or its secret file. Call at the edge only."""
        sect = getattr(self, section)
        value: SecretStr | None = getattr(sect, name)
        if value is not None:
            return value.get_secret_value()
        path: Path | None = getattr(sect, f"{name}_file")
        if path is None:
            return None
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError([f"[{section}] {name}_file <- cannot read {path}: {exc.strerror}"]) from exc


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        section = loc[0] if loc else "?"
        key = ".".join(loc[1:]) if len(loc) > 1 else "(section)"
        why = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if len(loc) == 1 and err["type"] == "extra_forbidden":
            section, key, why = loc[0], "(section)", "unknown section"
        out.append(f"[{section}] {key} <- {why}")
    return out


def _reject_inline_secrets(data: dict[str, Any]) -> list[str]:
    problems = []
    for section, names in SECRET_FIELDS.items():
        values = data.get(section)
        if not isinstance(values, dict):
            continue
        for name in names:
            if name in values:
                env = f"{ENV_PREFIX}{section.upper()}__{name.upper()}"
                problems.append(
                    f"[{section}] {name} <- secrets are not read from the config file; "
                    f"set {env} or {name}_file"
                )
    return problems


def _resolve_relative(data: dict[str, Any], base: Path) -> None:
    """Relative file paths in the config mean 'next to the config file', not the working directory."""
    path_keys = {
        ("salesforce", "private_key_file"), ("salesforce", "ca_bundle"), ("hubspot", "ca_bundle"),
        ("daemon", "mappings_dir"),
    }
    for section, names in SECRET_FIELDS.items():
        path_keys.update((section, f"{n}_file") for n in names)
    for section, key in path_keys:
        values = data.get(section)
        if isinstance(values, dict) and isinstance(values.get(key), str):
            candidate = Path(values[key]).expanduser()
            if not candidate.is_absolute():
                values[key] = str(base / candidate)
    ledger = data.get("ledger")
    if isinstance(ledger, dict) and isinstance(ledger.get("url"), str):
        url: str = ledger["url"]
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
            ledger["url"] = prefix + str(base / url[len(prefix):])


def config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """``--config`` wins, then ``LEADSYNC_CONFIG``; with neither, built-in defaults apply."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else None


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load settings from ``path`` (or ``LEADSYNC_CONFIG``) and the environment; raise ConfigError."""
    resolved = config_path(path)
    data: dict[str, Any] = {}
    if resolved is not None:
        try:
            with resolved.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError as exc:
            raise ConfigError([f"[config] {resolved} <- file not found"]) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"[config] {resolved} <- malformed TOML: {exc}"]) from exc
        problems = _reject_inline_secrets(data)
        if problems:
            raise ConfigError(problems)
        _resolve_relative(data, resolved.resolve().parent)
        data["source_path"] = resolved
    elif "source_path" in data:  # pragma: no cover - defensive, cannot come from a file
        del data["source_path"]
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from exc
