"""A dataset version's readable members for a training loader, after the run's gate allowed them."""

from __future__ import annotations

from sqlalchemy import select

from disgorge.api import RunContext
from disgorge.catalog.schema import Asset, Copy
from disgorge.enforcement.export import local_path


def readable_members(run: RunContext, ref: str) -> list[tuple[str, str]]:
    """(sha256, local path) of each member with a present local copy, in asset order; ``ref`` is
    checked for the run's use and party (and recorded as its input) before anything is read."""
    ds = run.use_dataset(ref)
    store = run.catalog.store
    ids = list(store.members(ds.id))
    items: list[tuple[str, str]] = []
    with store.session() as s:
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            paths: dict[int, str] = {}
            for aid, uri in s.execute(
                select(Copy.asset_id, Copy.uri)
                .where(Copy.asset_id.in_(chunk), Copy.state == "present")
                .order_by(Copy.uri)
            ):
                if aid not in paths and (p := local_path(uri)) is not None:
                    paths[aid] = str(p)
            for aid, sha in s.execute(
                select(Asset.id, Asset.sha256).where(Asset.id.in_(chunk)).order_by(Asset.id)
            ):
                if aid in paths:
                    items.append((sha, paths[aid]))
    return items
