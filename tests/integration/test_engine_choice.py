"""``--precision auto``: exports built once and validated, the engine measured and cached,
stale or corrupt caches rebuilt, broken graphs never picked, one engine per silver model."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_precision import fine_tuned_tiny_bert
from test_sentiment_stage import HEADLINES, articles

from src_clean.cli import main as cli_main
from src_clean.data_pipelines.silver.scoring import export, load_scorer
from src_clean.data_pipelines.silver.scoring.base import files_sha256, split_model_id
from src_clean.data_pipelines.silver.scoring.engines import export_folder
from src_clean.data_pipelines.silver.scoring.onnx_backend import MANIFEST, read_manifest
from src_clean.data_pipelines.silver.sentiment import EngineChanged, score_new_articles
from src_clean.lake import Lake
from src_clean.tables import BRONZE_NEWS, SILVER_SENTIMENT

PUBLISHED = ["2024-03-04T14:30Z", "2024-03-04T15:00Z", "2024-03-04T16:00Z"]
PUBLISHED += ["2024-03-05T09:00Z", "2024-03-05T13:31Z"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT trained on sample headlines: decisive labels, as a real FinBERT has."""
    return fine_tuned_tiny_bert(tmp_path_factory.mktemp("engines") / "tiny-trained")


def news_lake(root: Path) -> Lake:
    lake = Lake(root)
    lake.upsert(BRONZE_NEWS, articles([f"a{i}" for i in range(5)], PUBLISHED, HEADLINES))
    return lake


def manifest(checkpoint: Path, cache: Path) -> dict:
    return read_manifest(export_folder(checkpoint, cache))


# -- first run builds, second reuses -------------------------------------------------------


def test_first_run_exports_validates_and_measures_then_the_second_reuses(
    checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    lake = news_lake(tmp_path / "lake")
    with caplog.at_level("INFO", logger="src_clean.data_pipelines.silver.scoring.engines"):
        first = score_new_articles(lake, str(checkpoint), model_cache=cache, progress=False)
    engine = first.engine
    # the choice takes a while: it says what it times, then each engine's rate
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("choosing the engine: timing ") for m in said), said
    assert sum(m.startswith("engine ") and "texts/s" in m for m in said) == len(engine["rates"])
    assert (engine["export"], engine["choice"]) == ("built", "measured")
    assert set(engine["rates"]) == {"fp32", "onnx-fp32", "onnx-int8"} | (
        {"bf16"} if "bf16" not in engine["rejected"] else set()
    )
    assert engine["precision"] == max(engine["rates"], key=engine["rates"].get)
    assert first.model_id.endswith(f"@{engine['precision']}")
    assert engine["one_off_seconds"] > 0
    checks = manifest(checkpoint, cache)["variants"]
    assert {p: c["label_agreement"] >= 0.995 for p, c in checks.items()} == {
        "onnx-fp32": True,
        "onnx-int8": True,
    }
    built_at = manifest(checkpoint, cache)["built_at"]

    second_lake = news_lake(tmp_path / "lake2")
    second = score_new_articles(second_lake, str(checkpoint), model_cache=cache, progress=False)
    assert (second.engine["export"], second.engine["choice"]) == ("reused", "cached")
    assert second.engine["rates"] == engine["rates"]
    assert second.model_id == first.model_id
    assert manifest(checkpoint, cache)["built_at"] == built_at
    a = lake.read(SILVER_SENTIMENT).sort_values("article_id")
    b = second_lake.read(SILVER_SENTIMENT).sort_values("article_id")
    np.testing.assert_allclose(a["p_positive"], b["p_positive"], atol=1e-6)


def test_without_a_cache_folder_the_export_goes_next_to_the_checkpoint(
    checkpoint: Path, tmp_path: Path
) -> None:
    local = shutil.copytree(checkpoint, tmp_path / "copy", ignore=shutil.ignore_patterns("onnx"))
    scorer = load_scorer(str(local), progress=False)
    assert scorer.engine.folder == str(local / "onnx")
    assert (local / "onnx" / MANIFEST).is_file()


# -- stale or corrupt caches ---------------------------------------------------------------


def test_a_corrupt_export_is_rebuilt_never_used(checkpoint: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_scorer(str(checkpoint), model_cache=cache, progress=False)
    folder = export_folder(checkpoint, cache)
    int8 = folder / "model.int8.onnx"
    data = bytearray(int8.read_bytes())
    data[len(data) // 2] ^= 0xFF
    int8.write_bytes(bytes(data))

    scorer = load_scorer(str(checkpoint), model_cache=cache, progress=False)
    assert scorer.engine.export == (
        "rebuilt (corrupt: model.int8.onnx does not match its recorded sha256)"
    )
    assert scorer.engine.choice == "measured"
    recorded = manifest(checkpoint, cache)["variants"]["onnx-int8"]["sha256"]
    assert files_sha256([int8]) == recorded


def test_a_stale_export_is_rebuilt(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    load_scorer(str(checkpoint), model_cache=cache, progress=False)
    old_key = manifest(checkpoint, cache)["cache_key"]
    monkeypatch.setitem(export.EXPORT_SETTINGS, "format", 999)  # e.g. a new ORT release

    scorer = load_scorer(str(checkpoint), model_cache=cache, progress=False)
    assert scorer.engine.export.startswith("rebuilt (stale")
    assert manifest(checkpoint, cache)["cache_key"] not in (old_key, None)


def test_two_concurrent_first_runs_build_once(checkpoint: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    runs = []
    for name in ("shard-a", "shard-b"):
        news_lake(tmp_path / name)
        argv = ["silver-sentiment", "--lake", str(tmp_path / name), "--no-progress"]
        argv += ["--sentiment-model", str(checkpoint), "--model-cache", str(cache)]
        runs.append(
            subprocess.Popen(
                [sys.executable, "-m", "src_clean", *argv],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
        )
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    engines = [json.loads(out.strip().splitlines()[-1])["engine"] for out, _ in outputs]
    assert sorted(e["export"] for e in engines) == ["built", "reused"]
    assert sorted(e["choice"] for e in engines) == ["cached", "measured"]
    assert engines[0]["precision"] == engines[1]["precision"]
    assert manifest(checkpoint, cache)["built_by_pid"] in {run.pid for run in runs}


# -- a broken graph ------------------------------------------------------------------------


def negate_logits(target: Path) -> None:
    """Flip the sign of a graph's logits: it runs, but its labels are wrong."""
    import onnx
    from onnx import helper

    model = onnx.load(target)
    output = model.graph.output[0]
    raw = f"{output.name}_raw"
    for node in model.graph.node:
        node.output[:] = [raw if name == output.name else name for name in node.output]
    model.graph.node.append(helper.make_node("Neg", [raw], [output.name]))
    onnx.save(model, target)


def test_an_export_that_fails_validation_is_never_picked(
    checkpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    quantize = export.quantize_int8

    def broken_int8(source: Path, target: Path) -> None:
        quantize(source, target)
        negate_logits(target)

    monkeypatch.setattr(export, "quantize_int8", broken_int8)
    caplog.set_level(logging.INFO)

    scorer = load_scorer(str(checkpoint), model_cache=tmp_path / "cache", progress=False)
    assert scorer.engine.precision != "onnx-int8"
    assert "onnx-int8" not in scorer.engine.rates
    why = scorer.engine.rejected["onnx-int8"]
    assert why.startswith("failed validation: labels agree") and "< 99.5%" in why
    assert f"onnx-int8 rejected: {why}" in caplog.text


# -- one engine per silver model -----------------------------------------------------------


def test_model_id_names_the_engine_and_precision(checkpoint: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ids = {
        precision: load_scorer(
            str(checkpoint), precision=precision, model_cache=cache, progress=False
        ).model_id
        for precision in ("fp32", "onnx-fp32", "onnx-int8")
    }
    digest = hashlib.sha256((checkpoint / "model.safetensors").read_bytes()).hexdigest()
    name = f"path:{checkpoint.name}@sha256:{digest[:12]}"
    assert ids == {p: f"{name}@{p}" for p in ids}
    assert {split_model_id(i) for i in ids.values()} == {(name, p) for p in ids}


def test_silver_refuses_a_second_engine_without_rescore(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    lake = news_lake(tmp_path / "lake")
    model = str(checkpoint)
    options = {"model_cache": cache, "progress": False}
    day1 = score_new_articles(
        lake, model, precision="onnx-fp32", end=dt.date(2024, 3, 4), **options
    )
    assert day1.model_id.endswith("@onnx-fp32") and day1.scored == 2

    with pytest.raises(EngineChanged, match="--rescore"):
        score_new_articles(lake, model, precision="onnx-int8", **options)
    argv = ["silver-sentiment", "--lake", str(lake.root), "--sentiment-model", model]
    argv += ["--model-cache", str(cache), "--precision", "fp32", "--no-progress"]
    assert cli_main(argv) == 2
    assert "pass --rescore" in capsys.readouterr().err

    # auto keeps the recorded engine for new articles, whatever it would measure now
    day2 = score_new_articles(lake, model, **options)
    assert day2.model_id == day1.model_id and day2.scored == 2  # a2 is blank
    assert set(lake.read(SILVER_SENTIMENT)["model_id"]) == {day1.model_id}

    switched = score_new_articles(lake, model, precision="onnx-int8", rescore=True, **options)
    assert switched.model_id.endswith("@onnx-int8")
    assert (switched.already_scored, switched.scored) == (0, 4)
    rows = lake.read(SILVER_SENTIMENT)
    assert rows.groupby("model_id")["article_id"].apply(sorted).to_dict() == {
        day1.model_id: ["a0", "a1", "a2", "a3", "a4"],
        switched.model_id: ["a0", "a1", "a2", "a3", "a4"],
    }
    after = score_new_articles(lake, model, **options)  # auto now keeps int8
    assert after.model_id == switched.model_id and after.scored == 0


# -- what the choice is measured on ----------------------------------------------------------


def test_the_engines_are_timed_on_the_runs_own_texts(checkpoint: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    few = load_scorer(str(checkpoint), model_cache=cache, sample_texts=HEADLINES, progress=False)
    assert few.engine.measured_on == "check texts"  # 5 texts are too few to time
    texts = [f"{headline} ({i})" for i in range(20) for headline in HEADLINES]
    own = load_scorer(
        str(checkpoint),
        model_cache=cache,
        text_mode="headline_body",
        sample_texts=texts,
        progress=False,
    )
    assert (own.engine.measured_on, own.engine.export) == ("the run's texts", "reused")


def test_an_export_validated_on_another_cpu_is_validated_again(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from src_clean.data_pipelines.silver.scoring import engines
    from src_clean.data_pipelines.silver.scoring.onnx_backend import OnnxScorer

    cache = tmp_path / "cache"
    load_scorer(str(checkpoint), model_cache=cache, progress=False)  # built and validated here
    # another machine: other flags, and an int8 kernel that gets this CPU's sums wrong
    monkeypatch.setattr(engines, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    batch_logits = OnnxScorer.batch_logits

    def int8_broken_here(self: OnnxScorer, inputs: dict) -> np.ndarray:
        logits = batch_logits(self, inputs)
        return -logits if self.precision == "onnx-int8" else logits

    monkeypatch.setattr(OnnxScorer, "batch_logits", int8_broken_here)
    scorer = load_scorer(str(checkpoint), model_cache=cache, progress=False)
    assert (scorer.engine.export, scorer.engine.choice) == ("reused", "measured")
    assert scorer.engine.rejected["onnx-int8"].endswith("with torch fp32 on this CPU (< 99.5%)")
    assert scorer.engine.precision != "onnx-int8"
    assert "onnx-fp32" in scorer.engine.rates


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda text: text[: len(text) // 2], "Expecting"),  # a truncated write
        (lambda text: json.dumps(json.loads(text) | {"from_a_newer_version": 1}), "unknown"),
        (lambda text: "[]", None),  # valid JSON, not a choice
    ],
)
def test_a_damaged_engine_choice_heals(
    checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage, why
) -> None:
    """A truncated or foreign choice file raised JSONDecodeError or TypeError on every run;
    now it is measured again, rewritten whole, and the log says why."""
    cache = tmp_path / "cache"
    score_new_articles(
        news_lake(tmp_path / "a"), str(checkpoint), model_cache=cache, progress=False
    )
    (saved,) = export_folder(checkpoint, cache).glob("choice-*.json")
    saved.write_text(damage(saved.read_text()))
    with caplog.at_level("WARNING"):
        again = score_new_articles(
            news_lake(tmp_path / "b"), str(checkpoint), model_cache=cache, progress=False
        )
    assert again.engine["choice"] == "measured"
    assert json.loads(saved.read_text())["precision"] == again.engine["precision"]
    if why is not None:
        assert any("is damaged" in r.getMessage() and why in r.getMessage() for r in caplog.records)


def test_a_read_only_cache_measures_in_memory_and_says_so(
    checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    """A read-only cache with a valid export but no choice for this machine: the run
    measures without saving (it ended in a Fix line about download-model). The lock's
    PermissionError stands in for the read-only disk (the tests run as root)."""
    from src_clean.data_pipelines.silver.scoring import engines

    cache = tmp_path / "cache"
    score_new_articles(
        news_lake(tmp_path / "a"), str(checkpoint), model_cache=cache, progress=False
    )
    for choice in export_folder(checkpoint, cache).glob("choice-*.json"):
        choice.unlink()

    def read_only(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(engines.ExportCache, "lock", read_only)
    with caplog.at_level("WARNING"):
        run = score_new_articles(
            news_lake(tmp_path / "b"), str(checkpoint), model_cache=cache, progress=False
        )
    assert run.engine["choice"] == "measured"
    assert any("read-only" in r.getMessage() for r in caplog.records)
    assert not list(export_folder(checkpoint, cache).glob("choice-*.json"))
