"""A dataset version's readable members for a training loader, after the run's gate allowed them.

The same question locally and through a server: a :class:`~disgorge.client.RemoteRun` asks the server,
which checks the dataset for the run and answers with :func:`member_copies`."""

from __future__ import annotations

from disgorge.api import RunContext
from disgorge.catalog import CatalogStore
from disgorge.client import RemoteRun
from disgorge.enforcement.export import local_path


def member_copies(store: CatalogStore, dataset_id: int) -> list[tuple[str, list[str]]]:
    """(sha256, URIs of its present copies, sorted) of each member, in asset order."""
    from disgorge.enforcement.export import member_copies as copies

    return [(sha, uris) for sha, _, uris in copies(store, store.members(dataset_id))]


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
