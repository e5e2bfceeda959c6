"""A tiny real model through both backends of the service: ONNX Runtime (the export-onnx
folder) and torch; labels follow ``config.id2label`` in both."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from serving_support import AUTH, settings, wait_ready
from tiny_bert import FINBERT_TONE_ORDER, build_tiny_bert
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from src_clean.data_pipelines.silver.scoring import load_scorer
from src_clean.serving.app import create_app

TEXTS = [
    "Apple beats estimates and raises guidance",
    "Company cuts outlook after weak quarter; shares plunge",
    "Fed holds rates",
    "record high for the s&p index",
]


def reference_probabilities(folder, texts: list[str]) -> list[dict[str, float]]:
    """Softmax of the checkpoint's logits, named through its own id2label (independent of
    the service's code)."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    out = []
    for text in texts:
        with torch.no_grad():
            logits = model(**tokenizer(text, return_tensors="pt")).logits[0]
        probabilities = torch.softmax(logits.double(), -1).tolist()
        out.append({model.config.id2label[i]: p for i, p in enumerate(probabilities)})
    return out


def served(client: TestClient, texts: list[str]) -> list[dict]:
    response = client.post("/api/v1/predict/batch", json={"texts": texts}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.mark.parametrize("precision", ["onnx", "fp32"])
def test_backend_matches_the_checkpoint(postgres_url, tiny_model, precision) -> None:
    app = create_app(settings(postgres_url, tiny_model, precision=precision))
    with TestClient(app) as client:
        ready = wait_ready(client)
        items = served(client, TEXTS)
    expected_id = load_scorer(str(tiny_model), precision=precision, progress=False).model_id
    assert ready["model_version"] == expected_id
    assert expected_id.endswith("@onnx-fp32" if precision == "onnx" else "@fp32")
    for item, reference in zip(items, reference_probabilities(tiny_model, TEXTS), strict=True):
        assert item["model_version"] == expected_id
        for label, p in reference.items():
            assert item["scores"][label] == pytest.approx(p, abs=1e-5)
        assert item["label"] == max(reference, key=reference.get)


@pytest.mark.parametrize("dominant", ["negative", "neutral"])
def test_label_comes_from_id2label_not_the_position(postgres_url, tmp_path, dominant) -> None:
    folder = build_tiny_bert(tmp_path / "tone", FINBERT_TONE_ORDER, dominant=dominant)
    app = create_app(settings(postgres_url, folder, precision="fp32"))
    with TestClient(app) as client:
        wait_ready(client)
        items = served(client, TEXTS)
    assert {item["label"] for item in items} == {dominant}
    assert np.min([item["scores"][dominant] for item in items]) > 0.99
