import tomllib
from pathlib import Path

import pytest

from hub.domain.config import (
    Settings,
    load_settings,
    new_settings,
    parse_settings,
    write_settings,
)
from hub.domain.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_new_home_settings_round_trip(tmp_path):
    settings = new_settings("shop-1")
    path = write_settings(tmp_path, settings)
    assert path.stat().st_mode & 0o077 == 0, "the config holds the chain key: owner only"
    assert load_settings(tmp_path, environ={}) == settings


def test_shipped_default_file_matches_the_code_defaults():
    data = tomllib.loads((ROOT / "config" / "laoke.toml").read_text(encoding="utf-8"))
    with pytest.raises(ConfigError, match=r"chain\.key: the placeholder"):
        parse_settings(data, "config/laoke.toml", environ={})  # no store signs with it
    shipped = parse_settings(data, "config/laoke.toml",
                             environ={"LAOKE_CHAIN_KEY": "a-real-key-from-hq-0123456789"})
    code = Settings(store_id=shipped.store_id, chain=shipped.chain)
    assert shipped == code


def test_environment_overrides_the_file(tmp_path):
    write_settings(tmp_path, new_settings("shop-1"))
    settings = load_settings(tmp_path, environ={"LAOKE_API_PORT": "9000",
                                                "LAOKE_STORE_ID": "shop-2",
                                                "LAOKE_BROKER_URL": "mqtt://hq:1883"})
    assert settings.api.port == 9000
    assert settings.store_id == "shop-2"
    assert settings.broker.url == "mqtt://hq:1883"


@pytest.mark.parametrize("text, message", [
    ('store_id = "x"\n[chain]\nkey = "0123456789abcdefghij"\n[api]\nport = 70000\n',
     "api.port"),
    ('store_id = "x"\n[chain]\nkey = "0123456789abcdefghij"\n[api]\nprot = 1\n',
     "unknown setting"),
    ('store_id = "bad id!"\n[chain]\nkey = "0123456789abcdefghij"\n', "store_id"),
    ('store_id = "x"\n', "chain"),
    ('store_id = "x"\ntimezone = "Mars/Base"\n[chain]\nkey = "0123456789abcdefghij"\n',
     "unknown time zone"),
    ('store_id = "x"\n[chain]\nkey = "0123456789abcdefghij"\n[[tiers]]\ncode = "a"\n'
     'name = "A"\nname_en = "A"\nmin_spend_fen = 5\n', "first tier"),
    ("store_id = ", "not valid TOML"),
])
def test_bad_values_get_one_clear_line(tmp_path, text, message):
    (tmp_path / "laoke.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})
    assert message in caught.value.message
    assert "\n" not in caught.value.message
    assert str(tmp_path / "laoke.toml") in caught.value.message


def test_bad_environment_value_is_named(tmp_path):
    write_settings(tmp_path, new_settings("shop-1"))
    with pytest.raises(ConfigError, match=r"api\.port"):
        load_settings(tmp_path, environ={"LAOKE_API_PORT": "eighty"})
