"""Settings from the environment: the same rules the pydantic model had, checked by hand."""

from __future__ import annotations

import pytest

from push_registry.settings import Secret, Settings


def test_text_from_the_environment_becomes_typed_values_and_empty_means_unset() -> None:
    config = Settings.from_env(
        {
            "TABLE_NAME": "push-registry",
            "JWT_LEEWAY_SECONDS": "45",
            "JWT_SECRET": "s3cret-value",
            "JWT_ISSUER": "",
            "PRESIGNUP_DEFAULT_REGION": "DE",
            "UNRELATED": "ignored",
        }
    )

    assert config.jwt_leeway_seconds == 45
    assert config.jwt_issuer is None
    assert config.presignup_default_region == "DE"
    assert config.registration_ttl_days == 30
    assert isinstance(config.jwt_secret, Secret)
    assert config.jwt_secret.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(config)
    assert "s3cret-value" not in str(config.jwt_secret)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({}, "TABLE_NAME"),
        ({"TABLE_NAME": ""}, "TABLE_NAME"),
        ({"TABLE_NAME": "ab"}, "TABLE_NAME"),
        ({"TABLE_NAME": "push-registry", "JWT_LEEWAY_SECONDS": "301"}, "JWT_LEEWAY_SECONDS"),
        ({"TABLE_NAME": "push-registry", "JWT_LEEWAY_SECONDS": "-1"}, "JWT_LEEWAY_SECONDS"),
        ({"TABLE_NAME": "push-registry", "MAX_BODY_BYTES": "lots"}, "MAX_BODY_BYTES"),
        ({"TABLE_NAME": "push-registry", "LIST_MAX_LIMIT": "1.5"}, "LIST_MAX_LIMIT"),
        ({"TABLE_NAME": "push-registry", "PRESIGNUP_DEFAULT_REGION": "usa"}, "PRESIGNUP_DEFAULT_REGION"),
    ],
)
def test_a_bad_value_fails_the_cold_start_naming_the_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Settings.from_env(environ)


def test_settings_are_frozen() -> None:
    config = Settings(table_name="push-registry")
    with pytest.raises(AttributeError):
        config.table_name = "other"  # type: ignore[misc]
