"""ONNX Runtime backend: export, same contract and scores as torch, model ids, no torch import."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_precision import fine_tuned_tiny_bert, sample_texts
from tiny_bert import FINBERT_ORDER, FINBERT_TONE_ORDER, build_tiny_bert

from src_clean.cli import main as cli_main
from src_clean.data_pipelines.silver.scoring import ModelUnavailableError, load_scorer
from src_clean.data_pipelines.silver.scoring.base import TextEncoder, length_batches
from src_clean.data_pipelines.silver.scoring.export import export_onnx
from src_clean.data_pipelines.silver.scoring.onnx_backend import (
    MANIFEST,
    MIN_LABEL_AGREEMENT,
    OnnxScorer,
    safe_onnx_precisions,
)

TEXTS = [
    "Apple beats estimates and raises guidance",
    "",
    "the fed expects a recession",
    "stocks surge to a record high after strong earnings in the quarter",
    " ".join(["weak outlook"] * 400),  # truncated at 512 tokens
    "inflation",
    "company misses revenue estimates , shares plunge and layoffs follow a loss",
]
TEXT_COLUMNS = ["p_positive", "p_negative", "p_neutral", "score"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny BERT (distinct probabilities per text) with fp32 and int8 exports."""
    folder = build_tiny_bert(tmp_path_factory.mktemp("onnx") / "tiny-random", seed=7)
    export_onnx(str(folder), int8=True, n_check_texts=16)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT fine-tuned on sample headlines (decisive logits), exported to int8."""
    folder = fine_tuned_tiny_bert(tmp_path_factory.mktemp("onnx") / "tiny-trained")
    export_onnx(str(folder), int8=True, n_check_texts=16)
    return folder


def scores(folder: Path, precision: str, texts: list[str] = TEXTS) -> pd.DataFrame:
    return load_scorer(str(folder), precision=precision, progress=False).score(texts)


# -- same contract as the torch backend ----------------------------------------------


@pytest.mark.parametrize("order", [FINBERT_ORDER, FINBERT_TONE_ORDER])
def test_fp32_onnx_matches_torch_in_both_finbert_label_orders(
    tmp_path: Path, order: tuple[str, ...]
) -> None:
    folder = build_tiny_bert(tmp_path / "tiny", order, seed=3)
    export_onnx(str(folder), n_check_texts=8)
    torch_scores, onnx_scores = scores(folder, "fp32"), scores(folder, "onnx-fp32")
    assert torch_scores["p_positive"].nunique() == len(TEXTS) - 1  # else mapping is untested
    pd.testing.assert_frame_equal(onnx_scores, torch_scores, check_exact=False, atol=1e-4)


def test_one_text_and_a_512_token_text_match_torch(exported: Path) -> None:
    for texts in ([TEXTS[0]], [TEXTS[4]]):
        expected = scores(exported, "fp32", texts)
        pd.testing.assert_frame_equal(
            scores(exported, "onnx-fp32", texts), expected, check_exact=False, atol=1e-4
        )


def test_dominant_label_survives_export(tmp_path: Path) -> None:
    folder = build_tiny_bert(tmp_path / "tone", FINBERT_TONE_ORDER, dominant="negative")
    export_onnx(str(folder), int8=True, n_check_texts=8)
    for precision in ("onnx-fp32", "onnx-int8"):
        result = scores(folder, precision)
        assert result["label"].dropna().eq("negative").all()
        assert (result["p_negative"].dropna() > 0.99).all()


def test_blank_texts_get_nulls(exported: Path) -> None:
    result = scores(exported, "onnx-fp32", ["", "strong earnings", "  \n"])
    assert result.iloc[[0, 2]].isna().all(axis=None)
    assert result.iloc[1].notna().all()


def test_input_order_is_preserved(exported: Path) -> None:
    forward = scores(exported, "onnx-fp32")
    backward = scores(exported, "onnx-fp32", TEXTS[::-1])
    pd.testing.assert_frame_equal(
        backward.iloc[::-1].reset_index(drop=True), forward, check_exact=False, atol=1e-6
    )


def test_batching_does_not_change_scores(exported: Path) -> None:
    def run(batch_size: int, max_batch_tokens: int | None) -> pd.DataFrame:
        scorer = OnnxScorer(
            exported, batch_size=batch_size, max_batch_tokens=max_batch_tokens, progress=False
        )
        return scorer.score(TEXTS)

    pd.testing.assert_frame_equal(run(1, None), run(64, 600), check_exact=False, atol=1e-5)


def test_int8_labels_agree_with_torch_fp32_on_a_trained_model(trained: Path) -> None:
    texts, _ = sample_texts(300, seed=3)
    reference = load_scorer(str(trained), precision="fp32", progress=False).probabilities(texts)
    int8 = load_scorer(str(trained), precision="onnx-int8", progress=False).probabilities(texts)
    assert len(np.unique(reference.argmax(1))) > 1
    assert 0 < np.abs(int8 - reference).max() < 0.05
    assert np.mean(int8.argmax(1) == reference.argmax(1)) >= MIN_LABEL_AGREEMENT


# -- model ids, manifest, precision choice ----------------------------------------------


def test_model_id_is_the_checkpoint_id_at_the_precision(exported: Path) -> None:
    digest = hashlib.sha256((exported / "model.safetensors").read_bytes()).hexdigest()
    for precision in ("onnx-fp32", "onnx-int8", "fp32"):
        model_id = load_scorer(str(exported), precision=precision).model_id
        assert model_id == f"path:tiny-random@sha256:{digest[:12]}@{precision}"


def test_manifest_records_the_check_against_torch(exported: Path) -> None:
    manifest = json.loads((exported / "onnx" / MANIFEST).read_text())
    torch_scorer = load_scorer(str(exported), precision="fp32")
    assert manifest["source_model_id"] == torch_scorer.checkpoint_id
    fp32 = manifest["variants"]["onnx-fp32"]
    assert fp32["label_agreement"] == 1.0
    assert fp32["max_abs_dp"] < 1e-4
    assert fp32["texts"] == 32
    assert fp32["sha256"] == hashlib.sha256((exported / "onnx/model.onnx").read_bytes()).hexdigest()


def test_onnx_picks_the_fastest_export_that_passed_its_check(
    exported: Path, tmp_path: Path
) -> None:
    assert load_scorer(str(exported), precision="onnx").precision == "onnx-int8"
    folder = shutil.copytree(exported, tmp_path / "copy")
    manifest_path = folder / "onnx" / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["variants"]["onnx-int8"]["label_agreement"] = 0.9
    manifest_path.write_text(json.dumps(manifest))
    assert safe_onnx_precisions(folder) == ["onnx-fp32"]
    assert load_scorer(str(folder), precision="onnx").precision == "onnx-fp32"
    # forcing a precision skips the check
    assert load_scorer(str(folder), precision="onnx-int8").precision == "onnx-int8"


def test_the_onnx_folder_itself_can_be_served(exported: Path) -> None:
    scorer = load_scorer(str(exported / "onnx"), precision="onnx")
    assert re.fullmatch(r"path:tiny-random@sha256:[0-9a-f]{12}@onnx-int8", scorer.model_id)


def test_an_asked_for_onnx_precision_builds_the_missing_export(tmp_path: Path) -> None:
    folder = build_tiny_bert(tmp_path / "not-exported")
    scorer = load_scorer(str(folder), precision="onnx-int8", progress=False)
    assert scorer.model_id.endswith("@onnx-int8")
    assert safe_onnx_precisions(folder) == ["onnx-int8", "onnx-fp32"]


def test_an_export_folder_without_its_file_is_unavailable_with_the_fix(
    exported: Path, tmp_path: Path
) -> None:
    onnx = shutil.copytree(exported / "onnx", tmp_path / "onnx")
    (onnx / "model.int8.onnx").unlink()
    with pytest.raises(ModelUnavailableError, match="model.int8.onnx"):
        load_scorer(str(onnx), precision="onnx-int8")


def test_serving_onnx_imports_no_torch(exported: Path) -> None:
    code = (
        "import sys\n"
        "from src_clean.data_pipelines.silver.scoring import load_scorer\n"
        f"scorer = load_scorer({str(exported)!r}, precision='onnx', progress=False)\n"
        "assert scorer.score(['strong earnings'])['label'].notna().all()\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_without_int8_exports_fp32_and_drops_an_older_int8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = build_tiny_bert(tmp_path / "cli-model")
    export_onnx(str(folder), int8=True, n_check_texts=4)
    argv = ["export-onnx", "--model", str(folder), "--check-texts", "4", "--no-int8"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "onnx-fp32: model.onnx (opset 23, Attention x2) labels agree 100.00%" in out
    assert f"--sentiment-model {folder} --precision onnx" in out
    assert sorted(p.name for p in (folder / "onnx").iterdir()) == [
        "config.json",
        "export.json",
        "model.onnx",
        "reference.npy",
        "tokenizer.json",
        "tokenizer_config.json",
    ]


def test_cli_without_model_is_a_user_error_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["export-onnx", "--model", "acme/missing", "--out", str(tmp_path / "models")]
    # offline and not cached: the model is not here, a user error (exit 2), one line
    assert cli_main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: cannot load 'acme/missing'") and "Fix: " in line


# -- shared batching ---------------------------------------------------------------------


def test_length_batches_respect_the_token_budget_longest_first() -> None:
    lengths = np.array([5, 300, 40, 40, 12, 600, 7, 40])
    batches = length_batches(lengths, batch_size=3, max_batch_tokens=128)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert [b.tolist() for b in batches] == [[5], [1], [2, 3, 7], [4, 6, 0]]
    assert all(len(b) * lengths[b].max() <= 128 or len(b) == 1 for b in batches)


def test_length_batches_without_budget_cut_by_count() -> None:
    batches = length_batches(np.array([3, 1, 2, 5, 4]), batch_size=2)
    assert [b.tolist() for b in batches] == [[3, 4], [0, 2], [1]]


def test_text_encoder_pads_each_batch_to_its_longest(exported: Path) -> None:
    from tokenizers import Tokenizer

    encoder = TextEncoder(Tokenizer.from_file(str(exported / "onnx/tokenizer.json")), 6, 0)
    padded = encoder.pad(encoder.encode(["apple", "the fed expects a recession in the quarter"]))
    assert padded["input_ids"].shape == (2, 6)  # truncated at 6
    assert padded["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0], [1] * 6]
    assert padded["input_ids"][0, 3:].tolist() == [0, 0, 0]
    assert padded["input_ids"].dtype == np.int64
