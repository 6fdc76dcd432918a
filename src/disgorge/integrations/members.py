"""A dataset version's readable members for a training loader, after the run's gate allowed them.

The same question locally and through a server: a :class:`~disgorge.client.RemoteRun` asks the server,
which checks the dataset for the run and answers with :func:`member_copies`."""

from __future__ import annotations

from sqlalchemy import select

from disgorge.api import RunContext
from disgorge.catalog import CatalogStore
from disgorge.catalog.schema import Asset, Copy
from disgorge.client import RemoteRun
from disgorge.enforcement.export import local_path


def member_copies(store: CatalogStore, dataset_id: int) -> list[tuple[str, list[str]]]:
    """(sha256, URIs of its present copies, sorted) of each member, in asset order."""
    ids = list(store.members(dataset_id))
    items: list[tuple[str, list[str]]] = []
    with store.session() as s:
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            uris: dict[int, list[str]] = {}
            for aid, uri in s.execute(
                select(Copy.asset_id, Copy.uri)
                .where(Copy.asset_id.in_(chunk), Copy.state == "present")
                .order_by(Copy.uri)
            ):
                uris.setdefault(aid, []).append(uri)
            for aid, sha in s.execute(
                select(Asset.id, Asset.sha256).where(Asset.id.in_(chunk)).order_by(Asset.id)
            ):
                items.append((sha, uris.get(aid, [])))
    return items


def readable_members(run: RunContext | RemoteRun, ref: str) -> list[tuple[str, str]]:
    """(sha256, local path) of each member with a present local copy, in asset order; ``ref`` is
    checked for the run's use and party (and recorded as its input) before anything is read."""
    if isinstance(run, RemoteRun):
        return run.readable_members(ref)
    ds = run.use_dataset(ref)
    items: list[tuple[str, str]] = []
    for sha, uris in member_copies(run.catalog.store, ds.id):
        path = next((p for u in uris if (p := local_path(u)) is not None), None)
        if path is not None:
            items.append((sha, str(path)))
    return items
