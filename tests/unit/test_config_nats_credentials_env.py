"""GF_NATS_USER / GF_NATS_PASSWORD give each actor process its own NATS user (issue 13.13)."""

from __future__ import annotations

import pytest

from schemas import ConfigError, load_config


def test_user_and_password_come_from_the_environment_together() -> None:
    config = load_config(env={"GF_NATS_USER": "market-data", "GF_NATS_PASSWORD": "s3cret"})
    assert (config.nats.user, config.nats.password) == ("market-data", "s3cret")


def test_a_user_without_a_password_is_refused_naming_the_variables() -> None:
    with pytest.raises(ConfigError, match="GF_NATS_USER/GF_NATS_PASSWORD"):
        load_config(env={"GF_NATS_USER": "market-data"})


def test_without_the_variables_the_file_decides() -> None:
    config = load_config(env={})
    assert (config.nats.user, config.nats.password) == (None, None)
