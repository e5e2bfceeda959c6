"""oneDNN-fused linears: which modules are swapped, and that outputs do not change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_bert import build_tiny_bert

from src_clean.data_pipelines.silver.scoring.onednn import (
    FusedLinear,
    fuse_linears,
    fused_linear_available,
)
from src_clean.data_pipelines.silver.scoring.transformers_backend import (
    TransformersScorer,
    cpu_supports_bf16,
)

pytestmark = pytest.mark.skipif(not fused_linear_available(), reason="no oneDNN in this torch")
TEXTS = [
    "apple beats estimates and raises guidance",
    "stocks plunge",
    "the fed does not expect a recession after a strong quarter of growth in profits",
]


def tiny_model(tmp_path: Path, **config: object) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    folder = build_tiny_bert(tmp_path / "tiny", seed=3)
    return AutoModelForSequenceClassification.from_pretrained(folder, **config).eval()


def tokens(tmp_path: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "tiny")
    return tokenizer(TEXTS, padding=True, return_tensors="pt")


def logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> np.ndarray:
    with torch.inference_mode():
        return model(**batch).logits.float().numpy()


def linear_count(model: torch.nn.Module) -> int:
    return sum(type(m) is torch.nn.Linear for m in model.modules())


def test_every_linear_is_fused_and_the_gelu_block_becomes_one_primitive(tmp_path: Path) -> None:
    model = tiny_model(tmp_path)
    layers = model.config.num_hidden_layers
    counts = fuse_linears(model)
    # per layer: query, key, value, attention output, FFN output; plus pooler and classifier
    assert counts == {"gelu": layers, "none": 5 * layers + 2}
    assert linear_count(model) == 0
    intermediate = model.bert.encoder.layer[0].intermediate
    assert isinstance(intermediate, FusedLinear) and intermediate.activation == "gelu"


def test_fp32_outputs_match_the_plain_model(tmp_path: Path) -> None:
    plain = tiny_model(tmp_path)
    batch = tokens(tmp_path)  # three lengths: padding and the attention mask are exercised
    expected = logits(plain, batch)
    fuse_linears(plain)
    np.testing.assert_allclose(logits(plain, batch), expected, atol=1e-5)


@pytest.mark.skipif(not cpu_supports_bf16(), reason="CPU has no native bf16 (AMX/AVX512-BF16)")
def test_bf16_outputs_stay_close_to_the_plain_bf16_model(tmp_path: Path) -> None:
    plain = tiny_model(tmp_path).to(torch.bfloat16)
    batch = tokens(tmp_path)
    expected = logits(plain, batch)
    fuse_linears(plain)
    fused = logits(plain, batch)
    assert np.abs(fused - expected).max() < 0.05
    assert (fused.argmax(1) == expected.argmax(1)).all()


def test_relu_is_fused_and_an_approximate_gelu_is_left_alone(tmp_path: Path) -> None:
    relu = tiny_model(tmp_path, hidden_act="relu")
    assert fuse_linears(relu)["relu"] == relu.config.num_hidden_layers

    tanh_gelu = tiny_model(tmp_path, hidden_act="gelu_new")
    batch = tokens(tmp_path)
    expected = logits(tanh_gelu, batch)
    counts = fuse_linears(tanh_gelu)
    assert set(counts) == {"none"}  # no oneDNN post-op equals gelu_new: it runs unfused
    intermediate = tanh_gelu.bert.encoder.layer[0].intermediate
    assert not isinstance(intermediate, FusedLinear)
    assert isinstance(intermediate.dense, FusedLinear)
    np.testing.assert_allclose(logits(tanh_gelu, batch), expected, atol=1e-5)


def test_the_scorer_fuses_on_cpu_unless_told_not_to(tmp_path: Path) -> None:
    folder = str(build_tiny_bert(tmp_path / "tiny", seed=3))
    fused = TransformersScorer(folder, precision="fp32", device="cpu", progress=False)
    plain = TransformersScorer(
        folder, precision="fp32", device="cpu", fuse_cpu_linears=False, progress=False
    )
    assert linear_count(fused.model) == 0
    assert linear_count(plain.model) > 0
    np.testing.assert_allclose(fused.probabilities(TEXTS), plain.probabilities(TEXTS), atol=1e-6)
    assert fused.model_id == plain.model_id  # same weights, same scores: same model id


def test_the_probe_accepts_the_dtypes_this_cpu_runs() -> None:
    assert fused_linear_available(torch.float32)
    if cpu_supports_bf16():
        assert fused_linear_available(torch.bfloat16)


def test_without_the_fused_op_the_plain_modules_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from src_clean.data_pipelines.silver.scoring import onednn

    monkeypatch.setattr(onednn, "fused_linear_available", lambda dtype: False)
    folder = str(build_tiny_bert(tmp_path / "tiny", seed=3))
    scorer = TransformersScorer(folder, precision="fp32", device="cpu", progress=False)
    assert linear_count(scorer.model) > 0
    assert scorer.probabilities(TEXTS).shape == (len(TEXTS), 3)
