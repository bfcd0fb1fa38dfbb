"""The annotator UI and the service list the ``--model`` choices and whether each runs here
(issue 19): :func:`~sammask.segmentation.families.installed_models` behind ``GET /v1/models``
(token-protected like every ``/v1`` route) and the Video tab's "Models installed here" panel."""

from __future__ import annotations

from pathlib import Path

import pytest

from sammask.segmentation.families import NAMED_MODELS, installed_models, model_strategies
from sammask.ui.common import models_markdown


@pytest.fixture
def hub_cache_with_samhq(tmp_path: Path, monkeypatch) -> Path:
    """An offline Hugging Face cache holding only syscv-community/sam-hq-vit-base's config.json."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    repo = cache / "models--syscv-community--sam-hq-vit-base"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_service_lists_models_behind_the_token(hub_cache_with_samhq: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sammask.service.app import ServiceConfig, create_app

    app = create_app(ServiceConfig(data_dir=tmp_path / "data", workers=0, token="s3cret-token-0123456789"))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        refused = client.get("/v1/models")
        assert refused.status_code == 401
        res = client.get("/v1/models", headers={"Authorization": "Bearer s3cret-token-0123456789"})
        assert res.status_code == 200
        listed = {m["name"]: m for m in res.json()["models"]}
        expected = {m.name: m for m in installed_models()}
        assert set(listed) == set(expected) >= {"sam2.1_hiera_tiny", *NAMED_MODELS}
        for name, m in expected.items():
            assert (listed[name]["available"], listed[name]["reason"], listed[name]["family"]) == (m.available, m.reason, m.family)
        assert listed["samhq_vit_base"]["available"] is True and listed["samhq_vit_base"]["strategies"] == ["image"]
        assert listed["sam2.1_hiera_tiny"]["strategies"] == ["image", "video", "baseline"]
        assert listed["sam3"]["strategies"] == ["image", "video"]
        assert not listed["samhq_vit_large"]["available"] and "not in the Hugging Face cache" in listed["samhq_vit_large"]["reason"]
        assert "/v1/models" in client.get("/openapi.json").json()["paths"]


def test_ui_video_tab_shows_the_installed_models(hub_cache_with_samhq: Path) -> None:
    from sammask.ui.app import build_app

    models = installed_models()
    text = models_markdown(models, backend="classical")
    for m in models:
        row = next(ln for ln in text.splitlines() if ln.startswith(f"| `{m.name}` |"))
        assert m.family in row and ", ".join(model_strategies(m.family)) in row
        assert ("| installed |" in row) if m.available else (m.reason in row)
    assert "Annotation backend **classical**" in text
    app = build_app()
    panels = [b for b in app.blocks.values() if getattr(b, "elem_id", None) == "sammask-models"]
    assert len(panels) == 1 and "| `samhq_vit_base` | samhq | image | installed |" in panels[0].value
    app.close()
