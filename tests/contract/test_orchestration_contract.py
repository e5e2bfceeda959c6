"""Orchestration contracts: one name per stage (task id, CLI subcommand, module), a stage
registry whose reads and writes connect, and DAG files that import only orchestration."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from src_clean.cli import COMMANDS
from src_clean.orchestration.stages import STAGES, RunContext

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "airflow_mlops" / "dags").glob("*.py"))


def _name(subcommand: str) -> str:
    return subcommand.replace("-", "_")


@pytest.mark.parametrize("task_id", sorted(STAGES))
def test_the_task_id_is_the_subcommand(task_id: str) -> None:
    """``bronze_market`` runs ``bronze-market``; the fetch stages of one subcommand with
    another ``--source`` (``fetch_news_gkg``, ``fetch_news_rss``) start with its name."""
    stage = STAGES[task_id]
    name = _name(stage.subcommand)
    assert task_id == name or (task_id.startswith(f"{name}_") and stage.source), task_id
    if task_id != name:
        argv = stage.argv(RunContext(lake_root="/lake", landing_market="m", landing_news="n"))
        assert argv[argv.index("--source") + 1] == stage.source


@pytest.mark.parametrize("task_id", sorted(STAGES))
def test_the_subcommands_module_is_named_after_it(task_id: str) -> None:
    """``data_pipelines.bronze.market`` is ``bronze-market``, ``monitoring.monitor`` is
    ``monitor``, ``acquisition.fetch_market`` is ``fetch-market``."""
    subcommand = STAGES[task_id].subcommand
    module, _help = COMMANDS[subcommand]
    assert module.replace(".", "_").endswith(f"_{_name(subcommand)}"), (subcommand, module)


def test_every_input_has_a_writer_and_waits_for_are_inputs() -> None:
    written = {name for stage in STAGES.values() for name in stage.writes()}
    for stage in STAGES.values():
        assert set(stage.inputs) <= written, stage.task_id
        assert set(stage.waits_for or ()) <= set(stage.inputs), stage.task_id
        assert not set(stage.lands) & set(stage.outputs), stage.task_id


def _src_clean_imports(tree: ast.AST) -> list[str]:
    """Every ``src_clean`` module a file imports, at any depth (inside functions too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "src_clean"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "src_clean":
                found += [f"src_clean.{a.name}" for a in node.names]
            elif node.module.startswith("src_clean."):
                found.append(node.module)
    return found


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[f.stem for f in DAG_FILES])
def test_dag_files_import_only_orchestration(dag_file: Path) -> None:
    imported = _src_clean_imports(ast.parse(dag_file.read_text(), str(dag_file)))
    assert imported, "a DAG file wires tasks of src_clean.orchestration"
    others = [
        m
        for m in imported
        if m != "src_clean.orchestration" and not m.startswith("src_clean.orchestration.")
    ]
    assert others == [], f"{dag_file.name} imports {others}: only src_clean.orchestration"


def test_the_import_check_sees_every_form() -> None:
    source = (
        "import src_clean.lake\n"
        "from src_clean import tables, orchestration\n"
        "def f():\n    from src_clean.settings import Settings\n"
    )
    assert _src_clean_imports(ast.parse(source)) == [
        "src_clean.lake",
        "src_clean.tables",
        "src_clean.orchestration",
        "src_clean.settings",
    ]
