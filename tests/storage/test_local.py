from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from disgorge.errors import InputError, NotFoundError
from disgorge.hashing.digest import sha256_file, sha256_tree
from disgorge.storage import Identity, LocalStorage
from disgorge.storage import local as local_mod


def _write(p: Path, data: bytes) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _ident(p: Path) -> Identity:
    st = p.stat()
    return Identity(st.st_size, st.st_mtime_ns, st.st_ino, sha256_file(p)[0])


def test_stat_check_delete_and_delete_again(local: LocalStorage, root: Path) -> None:
    f = _write(root / "ab" / "cd.bin", b"x" * 100)
    want = _ident(f)
    info = local.stat(f.as_uri())
    assert info is not None and (info.size, info.inode, info.kind) == (100, want.inode, "file")
    assert local.check(str(f), want, rehash=True) == (True, "matches plan (size, mtime_ns, inode, sha256)")
    ev = local.delete(f.as_uri(), want)
    assert (ev.outcome, ev.uri) == ("deleted", f.as_uri())
    assert not f.exists() and local.stat(str(f)) is None and not local.exists(str(f))
    again = local.delete(f.as_uri(), want)
    assert again.outcome == "already_gone"
    assert local.delete(str(root / "no" / "such" / "dir" / "f"), want).outcome == "already_gone"
    assert local.delete(str(root / "ab" / "cd.bin" / "under-a-file"), want).outcome == "already_gone"


def test_other_bytes_at_the_path_are_skipped_not_deleted(local: LocalStorage, root: Path) -> None:
    f = _write(root / "a.bin", b"planned!")
    want = _ident(f)
    # replaced by other bytes of the same size (a new inode), mtime forged back
    _write(root / "tmp", b"REPLACED").replace(f)
    os.utime(f, ns=(want.mtime_ns or 0, want.mtime_ns or 0))
    ev = local.delete(str(f), want)
    assert ev.outcome == "skipped_changed" and "inode" in ev.detail
    assert f.read_bytes() == b"REPLACED"


def test_rehash_catches_bytes_rewritten_in_place_with_forged_mtime(local: LocalStorage, root: Path) -> None:
    f = _write(root / "a.bin", b"planned!")
    want = _ident(f)
    with open(f, "r+b") as fh:
        fh.write(b"PLANNED!")
    os.utime(f, ns=(want.mtime_ns or 0, want.mtime_ns or 0))
    assert local.check(str(f), want) == (True, "matches plan (size, mtime_ns, inode)")
    ev = local.delete(str(f), want, rehash=True)
    assert ev.outcome == "skipped_changed" and "sha256: expected" in ev.detail
    assert f.read_bytes() == b"PLANNED!"


def test_an_identity_of_size_alone_never_deletes(local: LocalStorage, root: Path) -> None:
    f = _write(root / "a.bin", b"abc")
    ev = local.delete(str(f), Identity(size=3))
    assert ev.outcome == "refused" and "identity too weak" in ev.detail
    assert (
        local.delete(str(f), Identity(size=3, sha256=hashlib.sha256(b"abc").hexdigest())).outcome == "deleted"
    )


def test_file_replaced_by_symlink_after_planning_is_skipped(
    tmp_path: Path, local: LocalStorage, root: Path
) -> None:
    sentinel = _write(tmp_path / "outside" / "sentinel", b"keep me")
    f = _write(root / "photo.jpg", b"keep me")
    want = _ident(f)
    f.unlink()
    f.symlink_to(sentinel)
    ev = local.delete(str(f), want)
    assert ev.outcome == "skipped_changed" and "now a symlink" in ev.detail
    assert f.is_symlink() and sentinel.read_bytes() == b"keep me"
    with pytest.raises(InputError, match=r"photo\.jpg.*refused: a symlink"):
        local.stat(str(f))
    with pytest.raises(InputError, match="refused: a symlink; symlinks are never followed"):
        local.open(str(f))


def test_directory_replaced_by_symlink_is_refused(tmp_path: Path, local: LocalStorage, root: Path) -> None:
    outside = tmp_path / "outside"
    sentinel = _write(outside / "f.bin", b"outside bytes")
    (root / "d").symlink_to(outside)
    want = _ident(sentinel)  # even the outside file's own identity does not get it deleted
    ev = local.delete(str(root / "d" / "f.bin"), want)
    assert ev.outcome == "refused"
    assert f"{root / 'd'} is a symlink; symlinks on a target's path are never followed" in ev.detail
    for call in (local.stat, local.exists, local.open):
        with pytest.raises(InputError, match="is a symlink"):
            call(str(root / "d" / "f.bin"))
    assert sentinel.read_bytes() == b"outside bytes"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("{root}/../outside/f", "'..' is never resolved"),
        ("{root}/a/./f", "'.' is not allowed"),
        ("{root}//a", "'//'"),
        ("{tmp}/outside/f", "outside every storage root"),
        ("/etc/passwd", "outside every storage root"),
        ("relative/f", "the path is not absolute"),
        ("{root}/a\0b", "NUL"),
        ("file://otherhost{root}/f", "not a local file URI"),
        ("file://{root}/f?x=1", "percent-encoded"),
        ("file://{root}/%2E%2E/outside", "'..' is never resolved"),
        ("{root}/" + "x" * 256, "longer than 255 bytes"),
    ],
)
def test_hostile_paths_are_refused_with_the_reason(
    tmp_path: Path, local: LocalStorage, root: Path, path: str, reason: str
) -> None:
    uri = path.format(root=root, tmp=tmp_path)
    with pytest.raises(InputError, match=reason):
        local.locate(uri)
    ev = local.delete(uri, Identity(1, 1, 1))
    assert ev.outcome == "refused" and re.search(reason, ev.detail)


def test_a_storage_root_is_never_deleted(local: LocalStorage, root: Path) -> None:
    info = local.stat(str(root))
    assert info is not None and info.kind == "dir"
    ev = local.delete(str(root), info.identity())
    assert ev.outcome == "refused" and "roots are never deleted" in ev.detail
    assert root.is_dir()


def test_no_roots_means_nothing_is_allowed(tmp_path: Path) -> None:
    f = _write(tmp_path / "f", b"x")
    with pytest.raises(InputError, match="none registered"):
        LocalStorage([]).stat(str(f))
    with pytest.raises(InputError, match="not a directory"):
        LocalStorage([tmp_path / "missing"])


def test_model_folder_is_deleted_whole_after_tree_hash_check(
    tmp_path: Path, local: LocalStorage, root: Path
) -> None:
    model = root / "models" / "m1"
    _write(model / "config.json", b"{}")
    _write(model / "weights" / "shard-0.bin", b"\x01" * 4096)
    _write(model / "weights.bin", b"sorts after weights/ as a Path, before it as a string")
    outside = _write(tmp_path / "outside" / "keep", b"keep")
    (model / "link-out").symlink_to(outside)  # removed as a link, never followed
    digest, size = sha256_tree(model)
    info = local.stat(str(model))
    assert info is not None and (info.kind, info.size) == ("dir", size)
    assert local.check(str(model), info.identity(digest), rehash=True)[0]
    ev = local.delete(str(model), info.identity(digest), rehash=True)
    assert ev.outcome == "deleted" and not model.exists()
    assert outside.read_bytes() == b"keep" and (root / "models").is_dir()


def test_folder_that_gained_a_file_is_skipped(local: LocalStorage, root: Path) -> None:
    model = root / "m"
    _write(model / "w.bin", b"w")
    info = local.stat(str(model))
    assert info is not None
    _write(model / "extra.bin", b"new data")
    ev = local.delete(str(model), info.identity())
    assert ev.outcome == "skipped_changed" and (model / "extra.bin").exists()


def test_iter_objects_lists_files_sorted_without_following_symlinks(
    tmp_path: Path, local: LocalStorage, root: Path
) -> None:
    _write(tmp_path / "outside" / "secret", b"s")
    _write(root / "b" / "2", b"22")
    _write(root / "a", b"1")
    name = "é #?%.jpg"
    _write(root / "b" / name, b"u")
    (root / "b" / "to-outside").symlink_to(tmp_path / "outside")
    (root / "b" / "to-secret").symlink_to(tmp_path / "outside" / "secret")
    os.mkfifo(root / "fifo")
    uris = [o.uri for o in local.iter_objects(root.as_uri())]
    assert uris == [(root / "a").as_uri(), (root / "b" / "2").as_uri(), (root / "b" / name).as_uri()]
    uri = (root / "b" / name).as_uri()
    with local.open(uri) as f:
        assert f.read() == b"u"
    assert [o.uri for o in local.iter_objects(str(root / "a"))] == [(root / "a").as_uri()]
    assert list(local.iter_objects(str(root / "missing"))) == []
    with pytest.raises(InputError, match="a fifo, not a file or folder"):
        local.stat(str(root / "fifo"))
    with pytest.raises(InputError, match="not the regular file"):
        local.open(str(root / "fifo"))
    with pytest.raises(NotFoundError, match="does not exist"):
        local.open(str(root / "nope"))


def test_change_between_check_and_unlink_is_caught(
    local: LocalStorage, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = _write(root / "f.bin", b"planned")
    want = _ident(f)
    real_compare = local_mod.compare

    def racing_compare(*args: object, **kwargs: object) -> tuple[bool, str]:
        out = real_compare(*args, **kwargs)  # type: ignore[arg-type]
        _write(root / "new", b"swapped").replace(f)  # another process renames a file into place
        return out

    monkeypatch.setattr(local_mod, "compare", racing_compare)
    ev = local.delete(str(f), want)
    assert ev.outcome == "skipped_changed" and ev.detail == "changed while being checked"
    assert f.read_bytes() == b"swapped"


def test_delete_many_fsyncs_each_folder_once_per_batch(
    local: LocalStorage, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [_write(root / f"d{i % 3}" / f"{i:04d}", b"%d" % i) for i in range(600)]
    targets = [(str(p), _ident(p)) for p in sorted(files)]
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(local_mod.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    out = list(local.delete_many(targets, batch=100))
    assert [e.outcome for e in out] == ["deleted"] * 600
    assert len(synced) <= 6 + 3  # one per folder per batch, not one per file
    assert not any(p.exists() for p in files)


def test_delete_many_works_on_folders_at_once_and_keeps_the_targets_order(
    local: LocalStorage, root: Path
) -> None:
    files = [_write(root / f"d{i % 5}" / f"{i:04d}", b"%d" % i) for i in range(200)]  # interleaved
    targets = [(str(p), _ident(p)) for p in files]
    changed = files[7]
    changed.write_bytes(b"rewritten after planning, another size")
    out = list(local.delete_many(targets, batch=64))
    assert [e.uri for e in out] == [Path(p).as_uri() for p, _ in targets]
    assert out[7].outcome == "skipped_changed" and changed.exists()
    assert {e.outcome for n, e in enumerate(out) if n != 7} == {"deleted"}
    assert [p for p in files if p.exists()] == [changed]


def test_a_folder_target_holding_another_target_is_deleted_in_order(local: LocalStorage, root: Path) -> None:
    inner = [_write(root / "m" / "w" / f"{i}", b"w%d" % i) for i in range(3)]
    other = [_write(root / "o" / f"{i}", b"o%d" % i) for i in range(3)]
    folder = root / "m" / "w"
    info = local.stat(str(folder))
    assert info is not None
    targets = [(str(folder), info.identity(sha256_tree(folder)[0]))]
    targets += [(str(p), _ident(p)) for p in [inner[0], *other]]  # the first is inside the folder
    out = list(local.delete_many(targets, rehash=True))
    assert [e.outcome for e in out] == ["deleted", "already_gone", "deleted", "deleted", "deleted"]
    assert not folder.exists() and not any(p.exists() for p in other)


def test_locate_folder_memo_answers_as_a_fresh_resolution(tmp_path: Path) -> None:
    """A folder resolved once answers for its other plain files exactly as a full resolution would,
    also around a storage root that lies inside a folder and for names no memo may answer."""
    import random

    from disgorge.errors import InputError
    from disgorge.storage.local import LocalStorage

    (tmp_path / "a" / "inner").mkdir(parents=True)
    roots = [tmp_path / "a" / "inner", tmp_path / "b"]
    (tmp_path / "b").mkdir()
    names = ["x.jpg", "inner", "..", ".", "", "%2e%2e", "y z", "é.jpg", "n" * 256, "k-1_2.JPG"]
    folders = [tmp_path / "a", tmp_path / "a" / "inner", tmp_path / "b", tmp_path / "b" / "c", tmp_path]
    rng = random.Random(5)
    memo = LocalStorage(roots)

    def answer(storage: LocalStorage, uri: str) -> object:
        try:
            w = storage.locate(uri)
            return (w.path, w.root, w.parts)
        except InputError as exc:
            return exc.message

    for _ in range(2000):
        uri = "file://" + str(rng.choice(folders)) + "/" + rng.choice(names)
        assert answer(memo, uri) == answer(LocalStorage(roots), uri), uri


def test_a_missing_folder_is_walked_once_per_batch(
    local: LocalStorage, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Targets whose folder is gone are already gone, each with its own evidence, and the folder is
    looked for once per batch, not once per target; targets in a folder that exists are deleted as
    ever, and a file put back in the folder after the batch is found by the next one."""
    kept = [_write(root / "here" / f"{i}", b"h%d" % i) for i in range(4)]
    gone = [root / "gone" / "sub" / f"{i}" for i in range(50)]
    targets = [(str(p), Identity(2)) for p in gone] + [(str(p), _ident(p)) for p in kept]
    walks: list[tuple[str, ...]] = []
    real_walk = local._walk

    def counting_walk(where: local_mod.Where, upto: int) -> int:
        walks.append(where.parts[:upto])
        return real_walk(where, upto)

    monkeypatch.setattr(local, "_walk", counting_walk)
    out = list(local.delete_many(targets))
    assert [e.outcome for e in out] == ["already_gone"] * 50 + ["deleted"] * 4
    assert all(
        e.detail.endswith(": absent") and e.uri == Path(p).as_uri()
        for e, p in zip(out[:50], gone, strict=True)
    )
    assert walks.count(("gone", "sub")) == 1 and not any(p.exists() for p in kept)
    back = _write(gone[3], b"g3")
    again = list(local.delete_many([(str(back), _ident(back)), (str(gone[4]), Identity(2))]))
    assert [e.outcome for e in again] == ["deleted", "already_gone"] and not back.exists()
