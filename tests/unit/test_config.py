"""Config decoding: defaults, env overrides, and errors that name the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from schemas import ConfigError, GalFridayConfig, decode_config, load_config


def test_defaults_keep_the_seed_systems_values() -> None:
    config = GalFridayConfig()
    assert config.market_data.cache_ttl_seconds == 1.0
    assert config.market_data.staleness_threshold_seconds == 30.0
    assert config.market_data.default_exchange == "kraken"
    assert config.execution.retry_base_delay_s == 1.0
    assert config.execution.max_retries == 3
    assert config.execution.max_batch_size == 50
    assert config.execution.parallel_limit == 10
    assert config.execution.batch_timeout == 30.0
    assert config.execution.risk_check_enabled is True
    assert config.execution.max_batch_exposure == Decimal("100000.0")


def test_decode_reads_nested_values_and_money_as_decimal() -> None:
    config = decode_config("execution:\n  max_batch_exposure: 2500.10\n  parallel_limit: 4\n")
    assert config.execution.max_batch_exposure == Decimal("2500.1")
    assert config.execution.parallel_limit == 4


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("execution:\n  max_batchsize: 5\n", "max_batchsize"),
        ("execution:\n  max_batch_size: 0\n", "$.execution.max_batch_size"),
        ("execution:\n  max_batch_exposure: -1\n", "max_batch_exposure"),
        ("kraken:\n  tier: gold\n", "$.kraken.tier"),
        ("market_data:\n  cache_ttl_seconds: soon\n", "$.market_data.cache_ttl_seconds"),
        ("nats:\n  subject_root: 'Bad Root'\n", "$.nats.subject_root"),
        ("surprise: 1\n", "surprise"),
    ],
)
def test_bad_config_raises_an_error_naming_the_key(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as error:
        decode_config(text)
    assert named in str(error.value)


def test_load_config_applies_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "gf.yaml"
    path.write_text("kraken:\n  tier: pro\n")
    config = load_config(str(path), env={"GF_NATS_URL": "nats://example:4333"})
    assert config.nats.url == "nats://example:4333"
    assert config.kraken.tier == "pro"


def test_load_config_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(tmp_path / "absent.yaml"), env={})
