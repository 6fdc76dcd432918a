"""A training run through a server: ``cat.run(...)`` on a :class:`~disgorge.client.RemoteCatalog`.

The server's gate decides exactly as ``Catalog.run`` does (the same check, the same refusal class and
message before any byte is read); outputs are hashed here, where they were written, and reported by
their sha256, size and URI. :meth:`RemoteRun.readable_members` is the torch and Hugging Face gates'
question: the server checks the dataset for the run and answers with its members' copies."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from disgorge.errors import InputError
from disgorge.model import check_relation

if TYPE_CHECKING:
    from disgorge.catalog import ArtifactInfo, DatasetInfo, RunInfo


class Transport(Protocol):
    """What a run needs of its catalog: one JSON call, and a dataset version by reference."""

    def _call(self, method: str, path: str, **kwargs: Any) -> Any: ...

    def dataset(self, ref: str) -> DatasetInfo: ...


def path_ref(ref: str) -> str:
    """A model or artifact named by a path that exists on this machine (``out/student.pt``), as the URI
    the catalog holds for it, since the server would resolve a path against its own working folder;
    other refs (names, sha256, URIs) as given."""
    from disgorge.catalog import as_uri

    return as_uri(ref) if "://" not in ref and Path(ref).exists() else ref


def input_ref(text: str) -> str:
    """A run input (``model:out/base.pt``) with a path ref made a URI (:func:`path_ref`)."""
    kind, sep, ref = text.partition(":")
    return f"{kind}:{path_ref(ref)}" if sep and kind in ("model", "artifact") else text


def run_info(r: dict[str, Any]) -> RunInfo:
    from disgorge.catalog import RunInfo

    return RunInfo(r["id"], r["uid"], r["name"], r["use"], r["party"], r["status"])


def artifact_info(a: dict[str, Any]) -> ArtifactInfo:
    from disgorge.catalog import ArtifactInfo

    return ArtifactInfo(a["id"], a["kind"], a["name"], a["sha256"], a["size"], a["run_id"], tuple(a["uris"]))


class RemoteRun:
    """A run the server opened; the same methods as :class:`disgorge.api.RunContext`."""

    def __init__(self, catalog: Transport, info: RunInfo, decision: dict[str, Any] | None = None) -> None:
        self.catalog = catalog
        self.info = info
        self.decision = decision
        self._path = f"/runs/{quote(info.uid, safe='')}"

    def __enter__(self) -> RemoteRun:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        status = "failed" if t else "finished"
        self.info = run_info(self.catalog._call("POST", f"{self._path}/finish", json={"status": status}))

    def use_dataset(self, ref: str) -> DatasetInfo:
        """Add a dataset input, checked by the server for the run's use and party first."""
        return self.use_datasets([ref])[0]

    def use_datasets(self, datasets: Sequence[str]) -> list[DatasetInfo]:
        """Several dataset inputs, checked together; refused as a whole if any member may not be read."""
        body = self.catalog._call("POST", f"{self._path}/inputs", json={"datasets": list(datasets)})
        return [self.catalog.dataset(ref) for ref in body["datasets"]]

    def readable_members(self, ref: str) -> list[tuple[str, str]]:
        """(sha256, local path) of each member with a copy this machine can open, in asset order;
        ``ref`` is checked by the server for the run (and recorded as its input) before anything."""
        from disgorge.enforcement.export import local_path

        body = self.catalog._call("POST", f"{self._path}/members", json={"dataset": ref})
        items: list[tuple[str, str]] = []
        for sha, uris in body["members"]:
            path = next((p for u in uris if (p := local_path(u)) is not None), None)
            if path is not None:
                items.append((sha, str(path)))
        return items

    def log_output(
        self,
        *,
        kind: str,
        uri: str,
        sha256: str,
        size: int,
        name: str | None = None,
        parents: Sequence[str] = (),
        relation: str = "fine_tuned_from",
        derived_from: Sequence[str] = (),
    ) -> ArtifactInfo:
        """Report an output hashed elsewhere: the server links it to its parents and sources."""
        check_relation(relation)
        body = {
            "kind": kind,
            "uri": uri,
            "sha256": sha256,
            "size": size,
            "name": name,
            "parents": [path_ref(p) for p in parents],
            "relation": relation,
            "derived_from": [input_ref(d) for d in derived_from],
        }
        return artifact_info(self.catalog._call("POST", f"{self._path}/outputs", json=body))

    def _log_file(self, path: str | os.PathLike[str], kind: str, **links: Any) -> ArtifactInfo:
        from disgorge.catalog import as_uri
        from disgorge.hashing.digest import sha256_path

        p = Path(path)
        if not p.exists():
            raise InputError(f"{kind} {p} does not exist", hint="write the file first, then log it")
        digest, size = sha256_path(p)
        return self.log_output(kind=kind, uri=as_uri(str(p)), sha256=digest, size=size, **links)

    def log_model(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        parents: Sequence[str] = (),
        relation: str = "fine_tuned_from",
    ) -> ArtifactInfo:
        """Register a model this run wrote; ``parents`` (names, paths or sha256) get a typed link."""
        check_relation(relation)
        return self._log_file(path, "model", name=name, parents=parents, relation=relation)

    def log_artifact(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str,
        name: str | None = None,
        derived_from: Sequence[str] = (),
    ) -> ArtifactInfo:
        """Register derived data and what it came from (``dataset:…``, ``asset:…``, ``model:…``)."""
        return self._log_file(path, kind, name=name, derived_from=derived_from)
