"""A small catalog a team works on, served by a real ``disgorge serve``: used by the browser tests, the
screenshots and the dashboard benchmark.

Three subjects' photos from one source, a dataset, a model chain trained on it and a deployment; ann
(admin), bea and cy (approvers), eve (engineer) and dan (auditor) each hold an API token and an identity
file of their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import disgorge
from disgorge.access.tokens import TokenService
from disgorge.ingest import IngestOptions
from tests.conftest import ACCEPTS, PEOPLE, claim, write_photo
from tests.server.conftest import LiveServer

SUBJECTS = ("alice", "bob", "carol")


@dataclass
class World:
    root: Path
    cat: disgorge.Catalog
    server: LiveServer
    tokens: dict[str, str] = field(default_factory=dict)
    identities: dict[str, Path] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def photo(self, subject: str, k: int = 0) -> Path:
        return self.root / "photos" / subject / f"p{k}.jpg"

    def close(self) -> None:
        self.server.stop()
        self.cat.close()


def build(root: Path, *, photos_per_subject: int = 3, serve: bool = True) -> World:
    photos = root / "photos"
    for s in SUBJECTS:
        for k in range(photos_per_subject):
            write_photo(photos / s / f"p{k}.jpg", s, sum(map(ord, s)) * 10 + k)
    cat = disgorge.open(root / "home", identity=PEOPLE["ann"])
    claim(cat, PEOPLE)
    cat.add_source(
        "site",
        notice=b"we operate the service",
        uses=["essential.service"],
        recipients=["site"],
        categories=["user.content.self_image"],
        controller="Site Inc.",
        legal_basis="contract",
    )
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("faces", source="site")
    models = root / "models"
    models.mkdir(exist_ok=True)
    for name in ("base", "ft"):
        (models / f"{name}.bin").write_bytes(f"weights of {name}".encode())
    with cat.run(
        "pretrain", use="train_ai_system", party="acme", inputs=["dataset:faces"], enforce=False
    ) as r:
        r.log_model(models / "base.bin", name="base")
    with cat.run("finetune", use="train_ai_system", party="beta", inputs=["model:base"], enforce=False) as r:
        r.log_model(models / "ft.bin", name="ft", parents=["base"])
    cat.deploy("ft", target="https://api.example/ft", hook="sh -c 'true'")
    cat.add_storage_root(root)
    for party in ("acme", "beta"):
        cat.recipients.set_channel(party, command=ACCEPTS)
    cat.proofs.checkpoint()
    service = TokenService(cat.store)
    tokens = {name: service.issue(cat.principal, "browser", principal=name)[1] for name in PEOPLE}
    identities = {}
    for name, ident in PEOPLE.items():
        path = root / "identities" / f"{name}.identity"
        if not path.exists():
            ident.save(path)
        identities[name] = path
    server = LiveServer(root, home="home") if serve else None
    return World(root, cat, server, tokens, identities)  # type: ignore[arg-type]
