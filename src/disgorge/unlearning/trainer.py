"""SISA training (Bourtoule et al., "Machine Unlearning", IEEE S&P 2021) of a registered dataset version.

The dataset is split into S shards by subject and each shard into R slices; shard s trains slice by
slice, slice r on the union of slices 0..r, with a checkpoint (model, optimizer, every RNG) after
each; the aggregate combines the shard models. Forgetting a member then retrains only its shard, from
the checkpoint before its slice (:mod:`disgorge.unlearning.forget`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from disgorge.api import Catalog
from disgorge.enforcement import denial
from disgorge.errors import InputError
from disgorge.unlearning.determinism import deterministic, shard_seed
from disgorge.unlearning.generation import Job, ShardWork, build_generation
from disgorge.unlearning.layout import Manifest, assign, member_tags
from disgorge.unlearning.spec import Recipe, SisaConfig


@dataclass(frozen=True, slots=True)
class Ensemble:
    model: str
    """The aggregate model's name in the catalog."""
    manifest: Manifest
    manifest_sha256: str


def default_workdir(cat: Catalog, name: str) -> Path:
    return cat.home.path / "sisa" / name


class SisaTrainer:
    """Train a SISA ensemble named ``name`` on ``dataset`` (NAME[@VERSION]) for ``use`` by ``party``.

    The dataset is checked for that use and party before any byte is read (PolicyDenied otherwise);
    files go under ``workdir`` (default ``$DISGORGE_HOME/sisa/NAME``). Calling :meth:`train` again after
    a crash resumes from the last checkpoint on disk.
    """

    def __init__(
        self,
        catalog: Catalog,
        dataset: str,
        *,
        name: str,
        recipe: Recipe,
        config: SisaConfig,
        party: str,
        use: str = "train_ai_system",
        workdir: Path | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if not name or "@" in name or "/" in name:
            raise InputError(f"ensemble name {name!r} is empty or contains '@' or '/'")
        for ref in (recipe.model, recipe.optimizer, recipe.features, recipe.step):
            ref.resolve()
        self.catalog = catalog
        self.dataset = dataset
        self.name = name
        self.recipe = recipe
        self.config = config
        self.party = party
        self.use = use
        self.workdir = Path(workdir).resolve() if workdir else default_workdir(catalog, name)
        self.progress = progress or (lambda _: None)

    def layout(self) -> list[list[list[int]]]:
        """layout[shard][slice]: each slice's own members (asset ids)."""
        store = self.catalog.store
        ds = store.get_dataset(self.dataset)
        return assign(member_tags(store, store.members(ds.id)), self.config.shards, self.config.slices)

    def train(self) -> Ensemble:
        store = self.catalog.store
        ds = store.get_dataset(self.dataset)
        report = self.catalog.check([ds.ref], use=self.use, recipient=self.party)
        if not report.ok:
            raise denial(report, f"SISA training {self.name!r} on {ds.ref}")
        layout = self.layout()
        empty = [s for s, slices in enumerate(layout) if not any(slices)]
        if empty:
            raise InputError(
                f"{len(empty)} of {self.config.shards} shards would hold no member ({ds.ref} has "
                f"{ds.member_count} members in {ds.stats.get('subject_count', '?')} subjects)",
                hint="use fewer shards: a subject's members always share one shard",
            )
        job = Job(
            self.name,
            0,
            {"ref": ds.ref, "digest": ds.digest, "members": ds.member_count},
            ds.id,
            ds.name,
            self.use,
            self.party,
            self.config,
            self.recipe,
            self.workdir,
            [
                ShardWork(s, shard_seed(self.config.seed, s), 0, None, layout[s])
                for s in range(self.config.shards)
            ],
        )
        with deterministic(self.config.threads) as env:
            pass
        name, manifest, sha = build_generation(
            self.catalog,
            job,
            previous=None,
            previous_sha=None,
            history=None,
            environment=env,
            progress=self.progress,
        )
        return Ensemble(name, manifest, sha)
