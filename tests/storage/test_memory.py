from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from disgorge.errors import InputError, NotFoundError, StoreError
from disgorge.storage import Identity, MemoryStorage, StorageBackend
from disgorge.storage.base import Version, select_versions


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_memory_store_is_a_storage_backend() -> None:
    with MemoryStorage() as m:
        assert isinstance(m, StorageBackend)


def test_delete_rechecks_identity_and_is_idempotent() -> None:
    m = MemoryStorage()
    info = m.put("memory://b/k1", b"photo")
    want = info.identity(_sha(b"photo"))
    assert m.check("memory://b/k1", want, rehash=True) == (
        True,
        "matches plan (size, mtime_ns, inode, etag, sha256)",
    )
    assert m.delete("memory://b/k1", want).outcome == "deleted"
    assert m.delete("memory://b/k1", want).outcome == "already_gone"
    assert not m.exists("memory://b/k1") and m.stat("memory://b/k1") is None
    with pytest.raises(NotFoundError, match="does not exist"):
        m.open("memory://b/k1")


def test_overwritten_object_is_skipped() -> None:
    m = MemoryStorage()
    want = m.put("memory://b/k", b"old").identity()
    m.put("memory://b/k", b"new")
    ev = m.delete("memory://b/k", want)
    assert ev.outcome == "skipped_changed" and "changed since planning" in ev.detail
    assert m.contents() == {"memory://b/k?versionId=null": b"new"}


def test_versioned_delete_removes_every_version_of_the_content_and_keeps_others() -> None:
    m = MemoryStorage(versioned=True)
    other = m.put("memory://b/k", b"other content")
    m.put("memory://b/k", b"erase me")
    m.remove("memory://b/k")  # a plain delete: a marker hides the bytes, it does not remove them
    planned = m.put("memory://b/k", b"erase me")
    assert planned.version_ids == (other.version_ids[0], "v2", "v4")
    want = Identity(planned.size, sha256=_sha(b"erase me"), etag=planned.etag)
    assert [o.uri for o in m.iter_objects("memory://b/")] == [
        f"memory://b/k?versionId={other.version_ids[0]}",
        "memory://b/k?versionId=v2",
        "memory://b/k",
    ]
    ev = m.delete("memory://b/k", want, rehash=True)
    assert (ev.outcome, ev.versions_deleted) == ("deleted", 2)
    assert "1 other version(s) with other content kept" in ev.detail
    # the marker stays: removing it would resurrect the other content as current
    assert list(m.contents().values()) == [b"other content"] and m.stat("memory://b/k") is None


def test_faults_fire_before_or_after_the_effect() -> None:
    m = MemoryStorage()
    wants = {u: m.put(u, u.encode()).identity() for u in ("memory://b/1", "memory://b/2", "memory://b/3")}
    m.fail("delete", nth=2)
    m.fail("delete", nth=3, after=True, error=KeyboardInterrupt())
    assert m.delete("memory://b/1", wants["memory://b/1"]).outcome == "deleted"
    with pytest.raises(StoreError, match="injected fault: delete call 2"):
        m.delete("memory://b/2", wants["memory://b/2"])
    assert m.exists("memory://b/2")  # failed before taking effect
    with pytest.raises(KeyboardInterrupt):
        m.delete("memory://b/3", wants["memory://b/3"])
    assert not m.exists("memory://b/3")  # took effect, then the "process" died
    assert m.delete("memory://b/2", wants["memory://b/2"]).outcome == "deleted"
    assert [c for c in m.calls if c[0] == "delete"] == [("delete", f"memory://b/{i}") for i in (1, 2, 3, 2)]
    with pytest.raises(InputError, match="cannot inject a fault into 'rename'"):
        m.fail("rename")


def test_weak_identity_is_refused() -> None:
    m = MemoryStorage()
    m.put("memory://b/k", b"abc")
    assert m.delete("memory://b/k", Identity(3)).outcome == "refused"


versions = st.lists(
    st.tuples(st.sampled_from([b"A", b"B", b"AA", b"erased"]), st.booleans()), min_size=1, max_size=6
)


@given(history=versions, rehash=st.booleans())
def test_select_versions_never_picks_other_content_or_orphans_a_marker(
    history: list[tuple[bytes, bool]], rehash: bool
) -> None:
    """Whatever the history, only versions with the planned bytes are chosen, and markers only go when
    nothing else survives."""
    content = {f"v{i}": data for i, (data, _) in enumerate(history)}
    vs = [
        Version(f"v{i}", len(d), hashlib.md5(d).hexdigest(), i == len(history) - 1, marker)
        for i, (d, marker) in enumerate(history)
    ]
    want = Identity(len(b"erased"), sha256=_sha(b"erased"), etag=hashlib.md5(b"erased").hexdigest())
    d = select_versions(vs, want, rehash=rehash, sha256_of=lambda v: _sha(content[v.version_id]))
    assert all(content[v.version_id] == b"erased" and not v.is_marker for v in d.delete)
    latest = vs[-1]
    if not latest.is_marker and content[latest.version_id] != b"erased":
        assert d.refusal and not d.delete
    else:
        assert {v.version_id for v in d.delete} == {
            v.version_id for v in vs if not v.is_marker and content[v.version_id] == b"erased"
        }
        assert not d.markers or not d.keep
