"""The built-in CNN and shifted-views recipe: each member gives several examples, computed while
training, and a forget with them is still exact (convolutions and fused Adam replayed bit for bit)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import disgorge
from disgorge.errors import InputError
from disgorge.unlearning import (
    Recipe,
    Ref,
    SisaConfig,
    SisaTrainer,
    execute_forget,
    load_ensemble,
    plan_forget,
    verify_exact,
)
from disgorge.unlearning.recipes import cnn, image_pixels, shifted_pixels
from tests.unlearning.conftest import subject_assets

CNN = Recipe(
    Ref("disgorge.unlearning.recipes:cnn", {"size": [8, 8], "classes": 10, "channels": [4], "hidden": 16}),
    Ref("disgorge.unlearning.recipes:adam", {"lr": 0.01, "fused": True}),
    features=Ref("disgorge.unlearning.recipes:shifted_pixels"),
)


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(out, format="PNG")
    return out.getvalue()


def test_shifted_views_move_the_image_and_keep_the_label() -> None:
    pixels = (np.arange(64, dtype=np.uint8) * 3).reshape(8, 8)
    views = shifted_pixels(png(pixels), {"label": 7}, shifts=[[0, 0], [1, 0], [0, -1]])
    assert [int(y) for _, y in views] == [7, 7, 7]
    x0, right, up = (v[0].reshape(8, 8) for v in views)
    plain, _ = image_pixels(png(pixels), {"label": 7})
    assert torch.equal(x0.reshape(-1), plain)
    assert torch.equal(right[:, 1:], x0[:, :-1]) and not right[:, 0].any()  # dx = 1: one column right
    assert torch.equal(up[:-1], x0[1:]) and not up[-1].any()  # dy = -1: one row up
    with pytest.raises(InputError, match="out of view"):
        shifted_pixels(png(pixels), {"label": 7}, shifts=[[8, 0]])
    assert cnn(channels=[4], hidden=16)(torch.stack([v[0] for v in views])).shape == (3, 10)


def test_forget_with_shifted_views_is_exact(dcat: disgorge.Catalog) -> None:
    def train(name: str, dataset: str) -> str:
        config = SisaConfig(shards=2, slices=2, seed=5, epochs=1)
        return SisaTrainer(dcat, dataset, name=name, recipe=CNN, config=config, party="lab").train().model

    ens = train("views", "digits")
    gone = subject_assets(dcat, "writer-0011")
    result = execute_forget(dcat, plan_forget(dcat, ens, gone))
    report = verify_exact(dcat, result.model)
    assert report.ok, report.to_json()
    remaining = sorted(set(dcat.store.members(dcat.store.get_dataset("digits").id)) - set(gone))
    keep = Path(dcat.home.path) / "keep.txt"
    keep.write_text("\n".join(dcat.store.asset(i).sha256 for i in remaining))
    dcat.create_dataset("digits-minus", manifest=keep)
    fresh = train("fresh", "digits-minus")

    def hashes(model: str) -> list[str]:
        return [sh.model["sha256"] for sh in load_ensemble(dcat.store, model)[1].shards]

    assert hashes(result.model) == hashes(fresh)
    # the catalog's member sets hold the assets, not their views (nothing derived is registered)
    assert sum(sh.slices[-1].dataset["members"] for sh in load_ensemble(dcat.store, ens)[1].shards) == 240
