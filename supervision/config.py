"""Configuration: config/*.toml, then SUPERVISION_* environment variables, then overrides.

Read once, at start-up, into a frozen `Settings`: every key has one typed field, and its default
lives in config/defaults.toml only. A key nobody knows (a misspelled environment variable or
override) stops the start with the closest known key, instead of silently leaving the default
in force.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
PROJECT_DIR = CONFIG_DIR.parent
ENV_PREFIX = "SUPERVISION_"
# SUPERVISION_* variables that are not the app's settings: read by the test suite and CI
# (tests/conftest.py, tests/browser/conftest.py), so they may be set where the app starts too.
NOT_SETTINGS = frozenset({"SUPERVISION_TEST_DATABASE_URL", "SUPERVISION_TEST_CLOCK_SHIFT_DAYS",
                          "SUPERVISION_TEST_REPLICA_URL",
                          "SUPERVISION_CHROMIUM", "SUPERVISION_CHROMEDRIVER"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class ConfigError(ValueError):
    """The configuration cannot be used: the app must not start with it."""


@dataclass(frozen=True)
class Settings:
    """One field per key of config/defaults.toml (lower-case: DATABASE_URL is `database_url`);
    the comments there say what each one does. `policy` is config/policy.toml (RULES.md)."""

    database_url: str
    database_replica_url: str
    id_hash_key: str
    trustee_secret: str
    trustee_api_url: str
    trustee_timeout_seconds: float
    trustee_signature_window_seconds: int
    notify_url: str
    notify_secret: str
    timezone: str
    max_content_length: int
    ratelimit: str
    ratelimit_public: str
    ratelimit_storage_url: str
    ratelimit_key_prefix: str
    db_pool_size: int
    db_prepare_threshold: int
    log_level: str
    env: str
    bind: str
    web_concurrency: int
    web_threads: int
    secret_key: str
    console_session_hours: int
    trustee_retries: int
    trustee_backoff_seconds: float
    trustee_resend_after_seconds: int
    statement_max_content_length: int
    notify_retry_base_seconds: int
    notify_retry_max_seconds: int
    notify_timeout_seconds: float
    console_signin_ratelimit: str
    session_cookie_secure: str
    testing: bool
    policy: Mapping[str, Any]

    @property
    def production(self) -> bool:
        return self.env == "production"


_FIELDS = {field.name.upper(): field for field in dataclasses.fields(Settings)
           if field.name != "policy"}


def _unknown(key: str, where: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(_FIELDS), n=1)
    hint = f" (did you mean {where}{close[0]}?)" if close else ""
    return ConfigError(f"unknown setting {where}{key}{hint}; the known ones are the keys of "
                       f"config/defaults.toml")


def _coerce(name: str, value: Any, where: str) -> Any:
    """`value` as the type of the field `name`: environment strings are parsed, an int is taken
    for a float, anything else must already have the field's type."""
    kind = _FIELDS[name].type
    article = "an" if kind == "int" else "a"
    if isinstance(value, str) and kind != "str":
        raw = value.strip()
        try:
            if kind == "bool":
                if raw.lower() not in _TRUE | _FALSE:
                    raise ValueError(value)
                return raw.lower() in _TRUE
            return int(raw) if kind == "int" else float(raw)
        except ValueError:
            raise ConfigError(f"{where}{name} must be {article} {kind}, not {value!r}") from None
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    python_type = {"str": str, "int": int, "float": float, "bool": bool}[str(kind)]
    if not isinstance(value, python_type) or (kind == "int" and isinstance(value, bool)):
        raise ConfigError(f"{where}{name} must be {article} {kind}, not {value!r}")

    return value


def _read(name: str) -> dict[str, Any]:
    with open(CONFIG_DIR / name, "rb") as fh:
        return tomllib.load(fh)


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """defaults.toml, then SUPERVISION_<KEY> variables of `environ` (default os.environ), then
    `overrides` (keys as in defaults.toml, e.g. {"DATABASE_URL": ...}; "POLICY" replaces the
    policy). Raises ConfigError naming the key on an unknown key or a value of the wrong type."""
    env = os.environ if environ is None else environ
    defaults = _read("defaults.toml")
    values: dict[str, Any] = {}
    for key, value in defaults.items():
        if key not in _FIELDS:
            raise _unknown(key, "config/defaults.toml: ")
        values[key] = _coerce(key, value, "config/defaults.toml: ")
    missing = sorted(set(_FIELDS) - set(values))
    if missing:
        raise ConfigError(f"config/defaults.toml has no default for {', '.join(missing)}")
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key in NOT_SETTINGS:
            continue
        name = key[len(ENV_PREFIX):]
        if name not in _FIELDS:
            raise _unknown(name, ENV_PREFIX)
        values[name] = _coerce(name, value, ENV_PREFIX)
    policy: Mapping[str, Any] = _read("policy.toml")
    for key, value in (overrides or {}).items():
        if key == "POLICY":
            policy = value
        elif key not in _FIELDS:
            raise _unknown(key, "")
        else:
            values[key] = _coerce(key, value, "")
    if not values["DATABASE_URL"]:
        instance = PROJECT_DIR / "instance"
        instance.mkdir(exist_ok=True)
        values["DATABASE_URL"] = f"sqlite:///{instance / 'supervision.sqlite3'}"
    return Settings(policy=policy, **{name.lower(): value for name, value in values.items()})
