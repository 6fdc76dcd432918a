from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import disgorge
from disgorge.ingest import IngestOptions
from tests.conftest import accept_notices
from tests.storage.seaweed import seaweed  # noqa: F401  (session fixture)


def tree_digest(root: Path) -> dict[str, str]:
    """Every regular file under root with the sha256 of its bytes (symlinks listed, not followed), the
    Disgorge home's own files (its catalog's WAL index changes on reads) aside."""
    out = {}
    for p in sorted(root.rglob("*")):
        top = p.relative_to(root).parts[0]
        if top == "home" or top.startswith("catalog.db"):
            continue
        if p.is_symlink():
            out[str(p.relative_to(root))] = "symlink->" + str(p.readlink())
        elif p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def world(cat: disgorge.Catalog, photos: Path, tmp_path: Path) -> disgorge.Catalog:
    """Three subjects' photos, a dataset, a model chain trained on them, a deployment; storage root = tmp."""
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("faces", source="site")
    models = tmp_path / "models"
    models.mkdir()
    for name in ("base", "ft", "bob-only"):
        (models / f"{name}.bin").write_bytes(f"weights of {name}".encode())
    hook_log = tmp_path / "takedown.log"
    with cat.run(
        "pretrain", use="train_ai_system", party="acme", inputs=["dataset:faces"], enforce=False
    ) as r:
        r.log_model(models / "base.bin", name="base")
    with cat.run("finetune", use="train_ai_system", party="beta", inputs=["model:base"], enforce=False) as r:
        r.log_model(models / "ft.bin", name="ft", parents=["base"])
    cat.deploy("ft", target="https://api.example/ft", hook=f"sh -c 'echo down >> {hook_log}'")
    manifest = tmp_path / "bob.txt"
    manifest.write_text("\n".join(str(p) for p in sorted((photos / "bob").iterdir())))
    cat.create_dataset("bob", manifest=manifest)
    with cat.run("bob", use="train_ai_system", party="gamma", inputs=["dataset:bob"], enforce=False) as r:
        r.log_model(models / "bob-only.bin", name="bob-only")
    cat.add_storage_root(tmp_path)
    accept_notices(cat, "acme", "beta", "gamma")
    return cat
