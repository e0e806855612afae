"""Configuration: config/*.toml, then SUPERVISION_* environment variables, then overrides."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
PROJECT_DIR = CONFIG_DIR.parent
ENV_PREFIX = "SUPERVISION_"


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_settings(overrides: dict[str, Any] | None = None,
                  environ: dict[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    with open(CONFIG_DIR / "defaults.toml", "rb") as fh:
        settings: dict[str, Any] = tomllib.load(fh)
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX):]
            settings[name] = _coerce(value, settings.get(name, ""))
    with open(CONFIG_DIR / "policy.toml", "rb") as fh:
        settings["POLICY"] = tomllib.load(fh)
    if overrides:
        settings.update(overrides)
    if not settings.get("DATABASE_URL"):
        instance = PROJECT_DIR / "instance"
        instance.mkdir(exist_ok=True)
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'supervision.sqlite3'}"
    return settings
