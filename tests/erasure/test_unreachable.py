"""Reachability answered once per folder gives each file the answer it would get on its own."""

from __future__ import annotations

from pathlib import Path

from disgorge.catalog.erasure import TargetInfo
from disgorge.erasure.targets import unreachable
from disgorge.storage import StorageConfig, reach


def _copy(n: int, uri: str) -> TargetInfo:
    return TargetInfo(n, n, "copy", "delete", uri, {"size": 1}, "pending", None)


def test_folder_answers_match_each_file(tmp_path: Path) -> None:
    inner = tmp_path / "folder" / "sub"  # a root inside a folder whose other files lie outside it
    inner.mkdir(parents=True)
    other = tmp_path / "other"
    other.mkdir()
    storage = StorageConfig(roots=(inner, other))
    uris = [
        (tmp_path / "folder" / "a.jpg").as_uri(),
        inner.as_uri(),  # the root itself, in the same folder as a.jpg
        (tmp_path / "folder" / "b.jpg").as_uri(),
        (other / "c.jpg").as_uri(),
        (other / "d%20e.jpg").as_uri(),
        (other / "..").as_uri() + "/x.jpg",
        (tmp_path / "elsewhere" / "f.jpg").as_uri(),
        (tmp_path / "elsewhere" / "g.jpg").as_uri(),
    ]
    got = {u.uri for u in unreachable([_copy(n, u) for n, u in enumerate(uris)], storage)}
    assert got == {u for u in uris if reach(u, storage) is not None}
    assert (other / "c.jpg").as_uri() not in got and (tmp_path / "folder" / "a.jpg").as_uri() in got
