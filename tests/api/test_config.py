"""Settings are read once into a frozen, typed object; a key nobody knows stops the start."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from supervision import create_app
from supervision.config import CONFIG_DIR, ConfigError, Settings, load_settings

# A database URL of its own, so nothing here touches instance/ or the suite's database.
URL = {"DATABASE_URL": "sqlite://"}


def test_every_key_of_defaults_toml_is_a_typed_field_with_that_default() -> None:
    with open(CONFIG_DIR / "defaults.toml", "rb") as fh:
        defaults = tomllib.load(fh)
    settings = load_settings(environ={})
    assert {f.name.upper() for f in dataclasses.fields(Settings)} - {"POLICY"} == set(defaults)
    for key, value in defaults.items():
        if key != "DATABASE_URL":  # empty means "the SQLite file under instance/"
            assert getattr(settings, key.lower()) == value, key
    assert settings.policy["rules"]["prepay_max_amount_fen"] == 500000


def test_environment_values_are_coerced_to_the_fields_type() -> None:
    settings = load_settings(URL, environ={
        "SUPERVISION_DB_POOL_SIZE": "12", "SUPERVISION_TRUSTEE_TIMEOUT_SECONDS": "1.5",
        "SUPERVISION_TESTING": "yes", "SUPERVISION_RATELIMIT": "5 per minute",
        "PATH": "/usr/bin"})
    assert settings.db_pool_size == 12
    assert settings.trustee_timeout_seconds == 1.5
    assert settings.testing is True
    assert settings.ratelimit == "5 per minute"


def test_overrides_win_over_the_environment() -> None:
    settings = load_settings({**URL, "RATELIMIT": "1 per day", "TRUSTEE_TIMEOUT_SECONDS": 3},
                             environ={"SUPERVISION_RATELIMIT": "5 per minute"})
    assert settings.ratelimit == "1 per day"
    assert settings.trustee_timeout_seconds == 3.0
    assert isinstance(settings.trustee_timeout_seconds, float)


def test_an_unknown_environment_variable_is_an_error_naming_it_and_the_closest_key() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(URL, environ={"SUPERVISION_RATELIMT": "5 per minute"})
    assert "SUPERVISION_RATELIMT" in str(err.value)
    assert "did you mean SUPERVISION_RATELIMIT?" in str(err.value)


def test_a_misspelled_override_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({**URL, "TRUSTEE_API_ULR": "http://x"}, environ={})
    assert "TRUSTEE_API_ULR (did you mean TRUSTEE_API_URL?)" in str(err.value)


def test_the_app_refuses_to_start_with_an_unknown_key() -> None:
    with pytest.raises(ConfigError, match="NOTIFY_SECERT"):
        create_app({**URL, "TESTING": True, "NOTIFY_SECERT": "k"})


def test_the_variables_of_the_test_suite_and_ci_are_not_settings() -> None:
    settings = load_settings(URL, environ={
        "SUPERVISION_TEST_DATABASE_URL": "postgresql+psycopg://x/y",
        "SUPERVISION_TEST_CLOCK_SHIFT_DAYS": "400", "SUPERVISION_CHROMIUM": "/bin/chromium",
        "SUPERVISION_CHROMEDRIVER": "/bin/chromedriver"})
    assert settings.database_url == "sqlite://"


@pytest.mark.parametrize(("key", "raw", "kind"), [
    ("SUPERVISION_DB_POOL_SIZE", "five", "an int"),
    ("SUPERVISION_NOTIFY_TIMEOUT_SECONDS", "5s", "a float"),
    ("SUPERVISION_TESTING", "maybe", "a bool"),
])
def test_a_value_of_the_wrong_type_is_an_error_naming_the_key(
        key: str, raw: str, kind: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(URL, environ={key: raw})
    assert f"{key} must be {kind}, not {raw!r}" in str(err.value)


def test_an_override_of_the_wrong_type_is_an_error() -> None:
    with pytest.raises(ConfigError, match="DB_POOL_SIZE must be an int"):
        load_settings({**URL, "DB_POOL_SIZE": 2.5}, environ={})


def test_settings_are_frozen() -> None:
    settings = load_settings(URL, environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.ratelimit = "1 per second"  # type: ignore[misc]
    assert dataclasses.replace(settings, ratelimit="1 per second").ratelimit == "1 per second"
    assert settings.ratelimit == ""
