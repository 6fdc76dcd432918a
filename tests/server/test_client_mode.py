"""The CLI as the server's client: with ``DISGORGE_URL`` and ``DISGORGE_TOKEN`` set, the same commands
print the same output and exit with the same status as against the catalog itself."""

from __future__ import annotations

from pathlib import Path

import pytest

import disgorge
from disgorge.errors import NotFoundError, Unauthenticated
from disgorge.ingest import IngestOptions
from tests.as_a_person import dg
from tests.conftest import PEOPLE

from .conftest import Team

COMMANDS = [
    ("source", "list"),
    ("source", "list", "--json"),
    ("impact", "--subject", "alice"),
    ("impact", "--subject", "alice", "--json"),
    ("impact", "--source", "site"),
    ("impact", "--dataset", "all"),
    ("impact", "--dataset", "all", "--json"),
    ("impact", "--subject", "nobody-we-know"),
    ("impact", "--dataset", "missing"),
    ("impact",),
    ("lineage", "ft"),
    ("lineage", "ft", "--json"),
    ("lineage", "no-such-model"),
    ("dataset", "list"),
    ("dataset", "list", "--json"),
    ("dataset", "show", "all"),
    ("dataset", "show", "all@1", "--json"),
    ("dataset", "show", "missing@3"),
]


@pytest.fixture
def world(team: Team, photos: Path, tmp_path: Path) -> Team:
    cat = team.cat
    cat.ingest(photos, IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("all", source="site")
    (tmp_path / "m").mkdir()
    for name in ("base", "ft"):
        (tmp_path / "m" / name).write_bytes(name.encode())
    with cat.run(
        "pretrain", enforce=False, use="essential.service", party="site", inputs=["dataset:all"]
    ) as r:
        r.log_model(tmp_path / "m" / "base", name="base")
    with cat.run(
        "finetune", enforce=False, use="essential.service", party="site", inputs=["model:base"]
    ) as r:
        r.log_model(tmp_path / "m" / "ft", name="ft", parents=["base"])
    return team


def _local(world: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]) -> object:
    ident = tmp_path / "eve.identity"
    if not ident.exists():
        PEOPLE["eve"].save(ident)
    monkeypatch.setenv("DISGORGE_IDENTITY", str(ident))
    monkeypatch.delenv("DISGORGE_URL", raising=False)
    return dg(tmp_path, *args, catalog=world.cat.store.url)


def _remote(world: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]) -> object:
    monkeypatch.delenv("DISGORGE_IDENTITY", raising=False)
    monkeypatch.setenv("DISGORGE_URL", world.url)
    monkeypatch.setenv("DISGORGE_TOKEN", world.tokens["eve"])
    return dg(tmp_path / "elsewhere", *args)


def test_each_command_prints_the_same_through_the_server(
    world: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()  # no home there: everything comes from the server
    for args in COMMANDS:
        local = _local(world, tmp_path, monkeypatch, args)
        remote = _remote(world, tmp_path, monkeypatch, args)
        assert (remote.returncode, remote.stdout) == (local.returncode, local.stdout), args  # type: ignore[attr-defined]
        assert remote.stderr.replace("\n", " ") == local.stderr.replace("\n", " "), args  # type: ignore[attr-defined]
    assert not (tmp_path / "elsewhere" / "home").exists()


def test_a_command_the_api_does_not_serve_says_so(
    world: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    r = _remote(world, tmp_path, monkeypatch, ("key", "rotate"))
    assert r.returncode == 2 and "DISGORGE_URL" in r.stderr  # type: ignore[attr-defined]


def test_a_bad_token_or_no_server_is_a_clear_error(
    world: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISGORGE_URL", world.url)
    monkeypatch.setenv("DISGORGE_TOKEN", "dgt_0000000000000000_" + "x" * 43)
    r = dg(tmp_path, "impact", "--source", "site")
    assert r.returncode == 1 and "unauthenticated" in r.stderr
    monkeypatch.delenv("DISGORGE_TOKEN")
    r = dg(tmp_path, "impact", "--source", "site")
    assert r.returncode == 2 and "DISGORGE_TOKEN" in r.stderr
    monkeypatch.setenv("DISGORGE_TOKEN", world.tokens["eve"])
    monkeypatch.setenv("DISGORGE_URL", "http://127.0.0.1:9")
    r = dg(tmp_path, "impact", "--source", "site")
    assert r.returncode == 3 and "could not be reached" in r.stderr


def test_the_python_api_through_a_server(world: Team) -> None:
    with disgorge.open(url=world.url, token=world.tokens["dan"]) as remote:
        assert remote.principal.name == "dan"
        assert remote.impact("source", "site").counts() == world.cat.impact("source", "site").counts()
        assert remote.lineage("ft").to_json() == world.cat.lineage("ft").to_json()
        with pytest.raises(NotFoundError):
            remote.lineage("nope")
    with disgorge.open(url=world.url, token="nonsense") as bad, pytest.raises(Unauthenticated):
        bad.impact("source", "site")


def test_a_model_named_by_a_path_or_uri_with_slashes(
    world: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The known bug: a model ref holding '/' (a path, a file URI) through the client was a 404."""
    (tmp_path / "elsewhere").mkdir()
    ft = tmp_path / "m" / "ft"
    for args in (
        ("lineage", str(ft)),
        ("lineage", ft.as_uri(), "--json"),
        ("lineage", str(tmp_path / "m" / "nope")),
        ("impact", "--asset", "file:///no/such/photo.jpg"),
    ):
        local = _local(world, tmp_path, monkeypatch, args)
        remote = _remote(world, tmp_path, monkeypatch, args)
        assert (remote.returncode, remote.stdout) == (local.returncode, local.stdout), args  # type: ignore[attr-defined]
        assert remote.stderr.replace("\n", " ") == local.stderr.replace("\n", " "), args  # type: ignore[attr-defined]
    assert _remote(world, tmp_path, monkeypatch, ("lineage", str(ft))).returncode == 0  # type: ignore[attr-defined]


def test_an_export_through_the_server_is_checked_there_and_copied_here(
    world: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The share is decided and recorded as a run by the server; the files are copied on this machine
    from the copies it opens, each verified by its sha256, and the run is finished after."""
    from tests.server.rest import photos as write_photos

    cat = world.cat
    cat.add_source("shop", notice=b"we share with acme", uses=["third_party_sharing"], recipients=["acme"])
    write_photos(tmp_path / "shop", "zoe", 3, seed=900)
    cat.ingest(tmp_path / "shop", IngestOptions(source="shop", subject_from="parent-dir", workers=1))
    cat.create_dataset("shared", source="shop")
    (tmp_path / "elsewhere").mkdir()
    args = ("export", "--dataset", "shared", "--to", "acme", "--dest", "out")
    local = _local(world, tmp_path, monkeypatch, args)
    remote = _remote(world, tmp_path, monkeypatch, args)
    assert local.returncode == 0 == remote.returncode, (local.stderr, remote.stderr)  # type: ignore[attr-defined]
    assert remote.stdout == local.stdout and "exported 3 files" in local.stdout  # type: ignore[attr-defined]
    here, there = tmp_path / "out", tmp_path / "elsewhere" / "out"
    assert sorted(p.name for p in here.iterdir()) == sorted(p.name for p in there.iterdir())
    assert all((there / p.name).read_bytes() == p.read_bytes() for p in here.iterdir())
    from sqlalchemy import select

    from disgorge.catalog.schema import Run

    with cat.store.session() as s:
        runs = s.execute(select(Run.status).where(Run.name == "export shared@1 to acme")).scalars().all()
    assert runs == ["finished", "finished"]
    refused = _remote(
        world, tmp_path, monkeypatch, ("export", "--dataset", "shared", "--to", "evil", "--dest", "no")
    )
    assert refused.returncode == 1 and "refused before any data was read" in refused.stderr  # type: ignore[attr-defined]
    assert not (tmp_path / "elsewhere" / "no").exists()
