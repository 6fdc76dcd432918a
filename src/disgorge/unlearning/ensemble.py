"""The aggregate model in use: load the shard models a catalog ensemble names, and combine them.

Classification takes a majority vote of the shard labels (as the SISA paper does; a tie goes to the
lowest class index, so the answer is a function of the votes alone); regression takes the mean. Shards
left with no member after a forget hold an untrained model and do not vote.
"""

from __future__ import annotations

import torch

from disgorge.api import Catalog
from disgorge.unlearning.layout import load_ensemble, read_bytes_verified
from disgorge.unlearning.serialize import load_tensors
from disgorge.unlearning.spec import AGGREGATION, Recipe


class SisaEnsemble:
    def __init__(self, models: list[torch.nn.Module], task: str) -> None:
        self.models = models
        self.task = task
        self.aggregation = AGGREGATION[task]

    @classmethod
    def load(cls, catalog: Catalog, model_ref: str) -> SisaEnsemble:
        """Every voting shard model, each file checked against its recorded sha256 before loading."""
        _, manifest, _ = load_ensemble(catalog.store, model_ref)
        recipe = Recipe.from_json(manifest.recipe)
        models = []
        for sh in manifest.shards:
            if sh.member_count == 0:
                continue
            art = catalog.store.resolve_artifact(sh.model["name"], kind="model")
            state, _ = load_tensors(read_bytes_verified(art, "shard model"), art.label)
            model: torch.nn.Module = recipe.model()
            model.load_state_dict(state)
            model.eval()
            models.append(model)
        return cls(models, recipe.task)

    @torch.no_grad()
    def shard_outputs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.models])

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        out = self.shard_outputs(x)
        if self.task == "regression":
            return out.mean(0)
        votes = torch.nn.functional.one_hot(out.argmax(-1), out.shape[-1]).sum(0)
        return votes.argmax(-1)
