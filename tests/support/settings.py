"""Changed settings for one test: `Settings` is frozen, so a test builds a changed copy."""

from __future__ import annotations

import dataclasses
from typing import Any

from supervision.config import Settings


def with_policy(settings: Settings, section: str, **values: Any) -> Settings:
    """`settings` with some parameters of one policy.toml section changed (RULES.md)."""
    policy = settings.policy
    return dataclasses.replace(settings, policy={**policy, section: {**policy[section], **values}})


def changed(settings: Settings, **changes: Any) -> Settings:
    """`settings` with some keys changed, named as in config/defaults.toml (TRUSTEE_API_URL=)."""
    return dataclasses.replace(settings, **{key.lower(): value for key, value in changes.items()})
