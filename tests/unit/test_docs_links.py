"""The docs' link check (``scripts/check_docs.py``, run by ``make lint``): every relative
link and ``#anchor`` in README.md and docs/*.md resolves, and a broken one is reported as
``file:line: broken link target``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check_docs.py"


def _checker():
    spec = importlib.util.spec_from_file_location("check_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, check=False
    )


def test_every_link_of_the_repository_docs_resolves() -> None:
    result = _run(REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_starts_with_the_two_commands_and_stays_short() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first_screen = "\n".join(readme.splitlines()[:40])
    assert "make demo" in first_screen and "make test" in first_screen
    assert len(readme.encode()) <= 16_000  # the reference belongs in docs/


def _tree(tmp_path: Path, readme: str, page: str) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    (tmp_path / "docs" / "page.md").write_text(page, encoding="utf-8")
    return tmp_path


def test_broken_file_and_anchor_links_fail_with_file_and_line(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        "# Top\n\nSee [the page](docs/page.md#schema-evolution) and [gone](docs/gone.md).\n",
        "# Page\n\n## Schema evolution\n\n[back](../README.md#top), [typo](#schema-evolutoin)\n",
    )
    result = _run(root)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "README.md:3: broken link docs/gone.md",
        "docs/page.md:5: broken link #schema-evolutoin",
    ]


def test_links_in_code_and_external_links_are_not_checked(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        "# Top\n\n```\n[not a link](nowhere.md)\n```\n\n`[code](nowhere.md)` "
        "[web](https://example.com/x.md) [mail](mailto:a@b.c)\n",
        '# Page\n\n<a name="custom"></a>\n\n[here](#custom) [folder](.) [ref]\n\n[ref]: page.md\n',
    )
    assert _run(root).returncode == 0


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Schema evolution", "schema-evolution"),
        ("Time convention (no look-ahead)", "time-convention-no-look-ahead"),
        (
            "Engines: `--precision auto` (the default) measures",
            "engines---precision-auto-the-default-measures",
        ),
        ("Bad input: never fatal, never silent", "bad-input-never-fatal-never-silent"),
        ("Without Docker: `make airflow`", "without-docker-make-airflow"),
        ("S3 lake, sentiment_worker", "s3-lake-sentiment_worker"),
    ],
)
def test_heading_slugs_follow_github(heading: str, slug: str) -> None:
    assert _checker().slug(heading) == slug


def test_repeated_headings_get_numbered_anchors(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("# A\n\n## Notes\n\n## Notes\n\n```\n# not a heading\n```\n", encoding="utf-8")
    assert _checker().anchors(page) == {"a", "notes", "notes-1"}


def test_stages_page_names_every_stage_by_its_one_name() -> None:
    """docs/stages.md lists each stage as task id | subcommand | module, from the registry."""
    from src_clean.cli import COMMANDS
    from src_clean.orchestration.stages import STAGES

    page = (REPO / "docs" / "stages.md").read_text(encoding="utf-8")
    for stage in STAGES.values():
        module = COMMANDS[stage.subcommand][0].removeprefix("src_clean.").replace(".", "/")
        row = f"| `{stage.task_id}` | `{stage.subcommand}` | `{module}.py` |"
        assert row in page, row
