"""Every CLI option a setting can change takes its default from the settings of the run
(``SP500_*``, or an Airflow Variable in a task), never from a constant written beside it:
one test over every subcommand, so a new option cannot forget it."""

from __future__ import annotations

import argparse

import pytest

from src_clean import settings
from src_clean.cli import COMMANDS, build_parser
from src_clean.settings import Settings, env_name

# a flag whose name is not its setting's (the lake root is `--lake` everywhere)
SETTING_OF_DEST = {"lake": "lake_root"}
# options that share a setting's name but not its meaning, each with the reason
OTHER_MEANING = {
    # the timezone of the input files' naive timestamps, not the DAG schedule's
    ("bronze-market", "--timezone"),
    # SP500_PRECISION is the service's engine (serve); the ETL stages pick theirs by `auto`
    ("silver-sentiment", "--precision"),
    ("backfill-shard", "--precision"),
    ("sentiment-worker", "--precision"),
    # SP500_NUM_THREADS is the service's scorer threads (serve); the ETL stages use every core
    ("silver-sentiment", "--num-threads"),
    ("backfill-shard", "--num-threads"),
    # None = the model silver recorded for the dates (gold never rescores)
    ("gold-news", "--sentiment-model"),
    # None = no lake: the worker scores raw files without a model registry
    ("sentiment-worker", "--lake"),
}
# serve lays the flags given over the settings (None = the setting): tested below
OVERLAID = {"serve"}
# a value each setting accepts that no default equals
SAMPLES = {
    "market_calendar": "XNYS",
    "market_hours": "cash",
    "oanda_environment": "live",
    "precision": "fp32",
    "train_history_days": "7",
    "port": "8123",
    "demo_fallback": "true",
    "batching": "false",
    "migrate_on_start": "false",
    "export_onnx": "true",
    "gdelt_min_interval_s": "2.5",
}


def _options() -> list[tuple[str, str, str]]:
    found = []
    with settings.using(Settings.defaults()):
        for command in COMMANDS.keys() - OVERLAID:
            sub = _subparser(build_parser(command), command)
            for action in sub._actions:
                field = SETTING_OF_DEST.get(action.dest, action.dest)
                if (
                    field in Settings.model_fields
                    and action.option_strings
                    and (command, action.option_strings[0]) not in OTHER_MEANING
                ):
                    found.append((command, action.option_strings[0], field))
    return found


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    (group,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return group.choices[command]


OPTIONS = _options()


def test_the_options_are_found() -> None:
    flags = {(command, flag) for command, flag, _ in OPTIONS}
    assert {("train", "--lake"), ("monitor", "--market-hours"), ("gold-news", "--lake")} <= flags


@pytest.mark.parametrize(("command", "flag", "field"), OPTIONS)
def test_a_setting_changes_the_option_default(
    command: str, flag: str, field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = SAMPLES.get(field, f"/tmp/set-by-{field}")
    monkeypatch.setenv(env_name(field), value)
    expected = getattr(Settings.from_env(), field)
    with settings.using(Settings.from_env()):
        sub = _subparser(build_parser(command), command)
    (action,) = (a for a in sub._actions if flag in a.option_strings)
    default = action.default
    if action.type is not None and isinstance(default, str):
        default = action.type(default)
    expected = expected.get_secret_value() if hasattr(expected, "get_secret_value") else expected
    assert default == expected, f"{command} {flag}: default {default!r}, {env_name(field)}={value}"


def test_serve_overlays_the_flags_given_on_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from src_clean.serving.cli import settings_from_args

    monkeypatch.setenv("SP500_PORT", "8123")
    monkeypatch.setenv("SP500_LAKE_ROOT", "/tmp/set-by-lake_root")
    args = build_parser("serve").parse_args(["serve", "--host", "127.0.0.2"])
    served = settings_from_args(args)
    assert (served.port, served.lake_root, served.host) == (
        8123,
        "/tmp/set-by-lake_root",
        "127.0.0.2",
    )
