"""Property: no generated path, however hostile, lets a local operation escape its storage root.

The tree plants symlinks inside the root that point outside it, up, at the sentinel, at themselves and
at absolute paths; every delete is attempted with the sentinel's own identity (and its sha256), so only
the path checks stand between the generated path and the sentinel.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disgorge.errors import InputError, NotFoundError
from disgorge.storage import Identity, LocalStorage

COMPONENTS = [
    "a",
    "b",
    "f",
    "ln_out",
    "ln_up",
    "ln_sentinel",
    "ln_abs",
    "ln_loop",
    "ln_root",
    "outside",
    "root",
]
COMPONENTS += ["sentinel", "..", ".", "", "é", "\x00", "a\x00b", "%2e%2e", "..\\..", "~", "x" * 300]


def _tree(base: Path) -> tuple[Path, Path]:
    outside = base / "outside"
    outside.mkdir()
    sentinel = outside / "sentinel"
    sentinel.write_bytes(os.urandom(64))
    root = base / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "f").write_bytes(b"inside")
    (root / "ln_out").symlink_to("../outside")
    (root / "a" / "ln_up").symlink_to("../..")
    (root / "a" / "ln_sentinel").symlink_to(sentinel)
    (root / "ln_abs").symlink_to(outside)
    (root / "a" / "b" / "ln_loop").symlink_to("ln_loop")
    (root / "a" / "ln_root").symlink_to(root)
    return root, sentinel


def _snapshot(base: Path) -> dict[str, tuple[int, int, bytes]]:
    """(mode, inode, bytes or link target) of every entry under ``base``, symlinks not followed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st_ = os.lstat(p)
            if os.path.islink(p):
                body = os.readlink(p).encode()
            elif os.path.isfile(p):
                body = Path(p).read_bytes()
            else:
                body = b""
            out[p] = (st_.st_mode, st_.st_ino, body)
    return out


paths = st.tuples(
    st.sampled_from(["root", "base", "slash", "relative", "root-uri", "root-uri-quoted"]),
    st.lists(st.one_of(st.sampled_from(COMPONENTS), st.text(max_size=8)), min_size=0, max_size=7),
    st.sampled_from(["", "/", "//"]),
)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("hostile")
    root, sentinel = _tree(base)
    return base, root, sentinel


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=paths)
def test_generated_paths_never_escape_the_root(
    hostile: tuple[Path, Path, Path], spec: tuple[str, list[str], str]
) -> None:
    base, root, sentinel = hostile
    before = _snapshot(base)
    st_ = sentinel.stat()
    as_sentinel = Identity(
        st_.st_size, st_.st_mtime_ns, st_.st_ino, hashlib.sha256(sentinel.read_bytes()).hexdigest()
    )
    start, comps, tail = spec
    rel = "/".join(comps) + tail
    path = {
        "root": f"{root}/{rel}",
        "base": f"{base}/{rel}",
        "slash": f"/{rel}",
        "relative": rel,
        "root-uri": f"file://{root}/{rel}",
        "root-uri-quoted": "file://" + quote(f"{root}/{rel}"),
    }[start]
    local = LocalStorage([root])
    for rehash in (False, True):
        ev = local.delete(path, as_sentinel, rehash=rehash)
        assert ev.outcome in ("refused", "already_gone", "skipped_changed"), ev
    calls = (local.stat, local.exists, local.open, lambda u: local.check(u, as_sentinel, rehash=True))
    for call in calls:
        try:
            out = call(path)
        except (InputError, NotFoundError):
            continue
        if hasattr(out, "close"):
            out.close()
        assert not (isinstance(out, tuple) and out[0]), f"{path!r} matched the sentinel: {out}"
    try:
        listed = [o.uri for o in local.iter_objects(path)]
    except InputError:
        listed = []
    assert all(u.startswith(root.as_uri() + "/") for u in listed), listed
    assert _snapshot(base) == before
