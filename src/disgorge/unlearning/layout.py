"""The SISA layout and its manifest: which member sits in which shard and slice, and where that is
recorded. Pure over the catalog; no torch needed, so an erasure planner can read it.

A member's place is a keyed hash (HMAC-SHA256 under the home key, domain ``sisa``) of its subject's
pseudonym, or of its own sha256 when it has no subject: every photo of one person lands in one shard
and one slice, the place does not depend on the other members, and without the key nobody can tell
where a given person sits. So the layout of "the dataset minus the erased members" is exactly the old
layout minus those members, which is what makes an incremental retrain equal a fresh one.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pyroaring import BitMap
from sqlalchemy import select

from disgorge.catalog import ArtifactInfo, CatalogStore
from disgorge.catalog.datasets import manifest_digest
from disgorge.catalog.members import member_rows
from disgorge.catalog.schema import Asset, Subject
from disgorge.enforcement.export import local_path
from disgorge.errors import InputError, NotFoundError, UsageError, VerificationFailed
from disgorge.hashing import canonical_json

MANIFEST_FORMAT = "disgorge-sisa-manifest/1"
ENSEMBLE_FORMAT = "disgorge-sisa-ensemble/1"
TAG_DOMAIN = "sisa"
MAX_DOCUMENT = 1 << 20
"""An ensemble document lists shard hashes only; a larger model file is not one (and is not read)."""


def place(tag: str, shards: int, slices: int) -> tuple[int, int]:
    """(shard, slice) from a member's keyed tag: disjoint bits of one HMAC, each reduced mod its count."""
    return int(tag[:16], 16) % shards, int(tag[16:32], 16) % slices


def member_tags(store: CatalogStore, members: BitMap) -> dict[int, tuple[str, str]]:
    """asset id -> (sha256, keyed placement tag) for every member."""
    rows: list[tuple[int, str, int | None]] = []
    with store.session() as s:
        rows = [(r[0], r[1], r[2]) for r in member_rows(s, members, [Asset.sha256, Asset.subject_id])]
        subject_ids = sorted({r[2] for r in rows if r[2] is not None})
        pseudonyms: dict[int, str] = {}
        for i in range(0, len(subject_ids), 900):
            q = select(Subject.id, Subject.pseudonym).where(Subject.id.in_(subject_ids[i : i + 900]))
            pseudonyms.update((int(i), str(p)) for i, p in s.execute(q))
    tag = store.hasher.tag
    return {
        aid: (sha, tag(TAG_DOMAIN, f"subject:{pseudonyms[sid]}" if sid is not None else f"asset:{sha}"))
        for aid, sha, sid in rows
    }


def assign(tags: dict[int, tuple[str, str]], shards: int, slices: int) -> list[list[list[int]]]:
    """layout[shard][slice] = the slice's own members, ordered by sha256 (an order no id or insertion
    time decides)."""
    cells: dict[tuple[int, int], list[tuple[str, int]]] = defaultdict(list)
    for aid, (sha, tag) in tags.items():
        cells[place(tag, shards, slices)].append((sha, aid))
    return [[[aid for _, aid in sorted(cells[(s, r)])] for r in range(slices)] for s in range(shards)]


@dataclass(slots=True)
class SliceRecord:
    slice: int
    members: list[int]
    """This slice's own members (asset ids), in training order; the slice trains on slices 0..r."""
    member_digest: str
    """RFC 9162 root over the own members' sha256, as dataset digests are computed."""
    dataset: dict[str, Any]
    """The catalog dataset version of the union of slices 0..r: ref, digest, members."""
    checkpoint: dict[str, Any]
    """name, sha256 (of the file), weights_sha256, path."""
    seconds: float
    generation: int


@dataclass(slots=True)
class ShardRecord:
    shard: int
    seed: int
    slices: list[SliceRecord]
    model: dict[str, Any]
    """name and sha256 of the shard model file; the file's sha256 is its weight hash."""
    run: str
    generation: int

    @property
    def member_count(self) -> int:
        return sum(len(s.members) for s in self.slices)


@dataclass(slots=True)
class Manifest:
    name: str
    generation: int
    model: str
    dataset: dict[str, Any]
    use: str
    party: str
    config: dict[str, Any]
    recipe: dict[str, Any]
    environment: dict[str, Any]
    workdir: str
    shards: list[ShardRecord]
    history: list[dict[str, Any]] = field(default_factory=list)
    previous: str | None = None
    """sha256 of the manifest this generation replaced."""
    job: str = ""
    """Fingerprint of the job that made this generation (see ``generation.Job.fingerprint``)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "name": self.name,
            "generation": self.generation,
            "model": self.model,
            "dataset": self.dataset,
            "use": self.use,
            "party": self.party,
            "config": self.config,
            "recipe": self.recipe,
            "assignment": {
                "tag": f"HMAC-SHA256(home key, '{TAG_DOMAIN}' 0x00 ('subject:' pseudonym | 'asset:' sha256))",
                "shard": "int(tag[0:16], 16) mod shards",
                "slice": "int(tag[16:32], 16) mod slices",
                "order": "by sha256 within a slice; each epoch a randperm from the shard's saved generator",
            },
            "environment": self.environment,
            "workdir": self.workdir,
            "shards": [
                {
                    "shard": sh.shard,
                    "seed": sh.seed,
                    "model": sh.model,
                    "run": sh.run,
                    "generation": sh.generation,
                    "slices": [
                        {
                            "slice": sl.slice,
                            "members": sl.members,
                            "member_digest": sl.member_digest,
                            "dataset": sl.dataset,
                            "checkpoint": sl.checkpoint,
                            "seconds": sl.seconds,
                            "generation": sl.generation,
                        }
                        for sl in sh.slices
                    ],
                }
                for sh in self.shards
            ],
            "history": self.history,
            "previous": self.previous,
            "job": self.job,
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> Manifest:
        if v.get("format") != MANIFEST_FORMAT:
            raise InputError(f"not a SISA manifest (format {v.get('format')!r})")
        shards = [
            ShardRecord(
                int(sh["shard"]),
                int(sh["seed"]),
                [
                    SliceRecord(
                        int(sl["slice"]),
                        [int(m) for m in sl["members"]],
                        sl["member_digest"],
                        dict(sl["dataset"]),
                        dict(sl["checkpoint"]),
                        float(sl["seconds"]),
                        int(sl["generation"]),
                    )
                    for sl in sh["slices"]
                ],
                dict(sh["model"]),
                sh["run"],
                int(sh["generation"]),
            )
            for sh in v["shards"]
        ]
        return cls(
            v["name"],
            int(v["generation"]),
            v["model"],
            dict(v["dataset"]),
            v["use"],
            v["party"],
            dict(v["config"]),
            dict(v["recipe"]),
            dict(v["environment"]),
            v["workdir"],
            shards,
            list(v.get("history") or []),
            v.get("previous"),
            str(v.get("job", "")),
        )


def ensemble_document(manifest: Manifest, manifest_sha256: str) -> bytes:
    """The aggregate model's file: which shard weights it combines, how, and the manifest behind it."""
    from disgorge.unlearning.spec import AGGREGATION

    task = manifest.recipe["task"]
    return canonical_json(
        {
            "format": ENSEMBLE_FORMAT,
            "name": manifest.model,
            "generation": manifest.generation,
            "task": task,
            "aggregation": AGGREGATION[task],
            "manifest_sha256": manifest_sha256,
            "shards": [
                {"shard": sh.shard, "sha256": sh.model["sha256"], "members": sh.member_count}
                for sh in manifest.shards
            ],
        }
    )


def own_digest(store: CatalogStore, members: list[int]) -> str:
    with store.session() as s:
        shas = [r[1] for r in member_rows(s, BitMap(members), [Asset.sha256])]
    return manifest_digest(shas)


def read_bytes_verified(art: ArtifactInfo, what: str) -> bytes:
    """The artifact's bytes, from its first local copy; a copy that no longer hashes to the catalog's
    sha256 is refused (someone changed the file after it was registered)."""
    for uri in art.uris:
        path = local_path(uri)
        if path is None or not path.is_file():
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != art.sha256:
            raise VerificationFailed(
                f"{what} {art.label}: {path} no longer matches its registered sha256",
                hint="restore the file from a copy, or re-run the training",
            )
        return data
    raise NotFoundError(f"{what} {art.label}: no local copy of its file is left ({', '.join(art.uris)})")


def read_verified_json(art: ArtifactInfo, what: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(read_bytes_verified(art, what))
    return value


def load_ensemble(store: CatalogStore, model_ref: str) -> tuple[ArtifactInfo, Manifest, str]:
    """The aggregate model, its manifest and the manifest's sha256; UsageError if it is not SISA."""
    art = store.resolve_artifact(model_ref, kind="model")
    doc: Any = {}
    if art.size <= MAX_DOCUMENT:
        try:
            doc = read_verified_json(art, "model")
        except (ValueError, UnicodeDecodeError):
            doc = {}
    if not isinstance(doc, dict) or doc.get("format") != ENSEMBLE_FORMAT:
        raise UsageError(
            f"model {model_ref!r} is not a SISA ensemble",
            hint="only models trained with disgorge.unlearning.SisaTrainer can be retrained or verified",
        )
    man_art = _manifest_artifact(store, doc)
    manifest = Manifest.from_json(read_verified_json(man_art, "SISA manifest"))
    return art, manifest, man_art.sha256


def _manifest_artifact(store: CatalogStore, doc: dict[str, Any]) -> ArtifactInfo:
    """The manifest the document names by sha256: looked up by the name it is registered under
    (an indexed equality), else by its sha256."""
    sha = str(doc.get("manifest_sha256", ""))
    try:
        art = store.resolve_artifact(f"{doc.get('name')}.manifest", kind="report")
    except NotFoundError:
        pass
    else:
        if art.sha256 == sha:
            return art
    return store.resolve_artifact(sha, kind="report")
