"""One definition per setting: flags, environment variables and the README table agree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from server.cli import _parser, main
from server.settings import SettingError, Settings, SettingSpec, fields, from_args, markdown_table

README = Path(__file__).parents[2] / "README.md"


def _sample(spec: SettingSpec) -> tuple[str, Any]:
    """A raw environment value for ``spec`` and what it must read as (never the default)."""
    base = spec.base
    if spec.name == "migrate":  # one of two words
        return "off", "off"
    if base is int:
        return "4321", 4321
    if base is float:
        return "2.5", 2.5
    if base is bool:
        return ("false", False) if spec.default else ("true", True)
    if base is str:
        return "from-env", "from-env"
    return "https://a.example, https://b.example", ("https://a.example", "https://b.example")


@pytest.mark.parametrize("spec", fields(), ids=lambda spec: spec.env)
def test_every_setting_is_read_from_its_environment_variable(spec: SettingSpec) -> None:
    raw, expected = _sample(spec)
    assert expected != spec.default
    assert getattr(Settings.load({spec.env: raw}), spec.name) == expected


@pytest.mark.parametrize("spec", fields(), ids=lambda spec: spec.flag)
def test_every_setting_is_a_serve_flag_that_wins_over_the_environment(spec: SettingSpec) -> None:
    raw, expected = _sample(spec)
    args = _parser().parse_args(["serve", spec.flag, raw])
    other = "1" if spec.base in (int, float) else "other"
    assert getattr(from_args(args, {spec.env: other}), spec.name) == expected


def test_unset_flags_and_variables_give_the_defaults() -> None:
    assert from_args(_parser().parse_args(["serve"]), {}) == Settings()


def test_host_and_port_come_from_the_environment() -> None:
    settings = from_args(_parser().parse_args(["serve"]), {"CARESYNC_HOST": "0.0.0.0", "CARESYNC_PORT": "8080"})
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)


def test_a_bad_value_names_the_variable_and_the_type(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SettingError, match=r"CARESYNC_PORT: expected integer, got 'eighty'"):
        Settings.load({"CARESYNC_PORT": "eighty"})
    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", "--port", "eighty"])
    assert "--port: expected integer" in capsys.readouterr().err


def test_a_presence_interval_the_reports_cannot_follow_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """Reports count a node's sockets for three of the longest interval after its touch."""
    for raw in ("0", "-1", "5.5"):
        with pytest.raises(SettingError, match="presence_interval_s: expected more than 0 and at most 5"):
            Settings.load({"CARESYNC_PRESENCE_INTERVAL": raw})
    assert Settings.load({"CARESYNC_PRESENCE_INTERVAL": "0.5"}).presence_interval_s == 0.5
    assert main(["serve", "--presence-interval", "30"]) == 2
    assert "presence_interval_s" in capsys.readouterr().err


def test_readme_settings_table_is_the_generated_one() -> None:
    found = re.search(r"<!-- settings table:[^>]*-->\n(.*?)<!-- end of settings table -->", README.read_text(), re.S)
    assert found is not None, "README has no generated settings table"
    assert found.group(1) == markdown_table(), "run `caresync settings --markdown` and paste it into the README"


def test_passwords_in_urls_are_hidden_when_shown() -> None:
    settings = Settings(database_url="postgresql://caresync:s3cret@db:5432/caresync", redis_url="redis://:pw@r:6379/0")
    shown = settings.redacted()
    assert shown["database_url"] == "postgresql://caresync:***@db:5432/caresync"
    assert shown["redis_url"] == "redis://:***@r:6379/0"
    assert "s3cret" not in str(shown)


def test_settings_command_prints_the_effective_values(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARESYNC_DATABASE_URL", "postgresql://u:hidden@h/db")
    assert main(["settings", "--port", "9001"]) == 0
    out = capsys.readouterr().out
    assert "--port" in out and "9001" in out
    assert "hidden" not in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert re.fullmatch(r"caresync \S+\n", capsys.readouterr().out)


def test_a_config_file_sits_between_the_defaults_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "caresync.toml"
    config.write_text(
        'port = 9100\nlog-level = "debug"\nheartbeat_interval_s = 12.5\nallowed_origins = ["https://a.example"]\n'
    )
    args = _parser().parse_args(["serve", "--config", str(config), "--heartbeat", "30"])
    settings = from_args(args, {"CARESYNC_LOG_LEVEL": "warning"})
    assert settings.port == 9100  # from the file
    assert settings.log_level == "warning"  # the variable wins over the file
    assert settings.heartbeat_interval_s == 30.0  # the flag wins over both
    assert settings.allowed_origins == ("https://a.example",)
    assert Settings.load({"CARESYNC_CONFIG": str(config)}).port == 9100


def test_a_config_file_with_an_unknown_name_or_a_bad_value_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "caresync.toml"
    config.write_text("prot = 9100\n")
    with pytest.raises(SettingError, match="unknown setting 'prot'"):
        Settings.load({"CARESYNC_CONFIG": str(config)})
    config.write_text('port = "eighty"\n')
    with pytest.raises(SettingError, match="port: expected integer"):
        Settings.load({"CARESYNC_CONFIG": str(config)})


def test_a_migrate_policy_other_than_auto_or_off_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SettingError, match="migrate: expected auto or off, got 'sometimes'"):
        Settings.load({"CARESYNC_MIGRATE": "sometimes"})
    assert main(["serve", "--migrate", "never"]) == 2
    assert "migrate: expected auto or off" in capsys.readouterr().err


def test_a_negative_heap_cap_is_refused_by_name() -> None:
    with pytest.raises(SettingError, match="malloc_arena_max: expected 0 or more"):
        Settings.load(environ={"CARESYNC_MALLOC_ARENA_MAX": "-1"})
    assert Settings.load(environ={"CARESYNC_MALLOC_ARENA_MAX": "0"}).malloc_arena_max == 0
