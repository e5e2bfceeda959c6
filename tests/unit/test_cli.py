"""The one CLI: every subcommand has --help, and cheap commands stay free of heavy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from src_clean.cli import COMMANDS, build_parser, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: python -m src_clean {command}" in out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_stage_module_exposes_the_cli_contract(command: str) -> None:
    parser = build_parser(command)
    sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    assert callable(sub.get_default("_main"))


@pytest.mark.parametrize("command", ["train", "bronze-market", "gold-training", "silver-market"])
def test_help_does_not_import_torch(command: str) -> None:
    code = (
        "import sys\nfrom src_clean.cli import main\n"
        f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_unknown_subcommand_exits_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-stage"])
    assert exc.value.code == 2
