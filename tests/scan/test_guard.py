"""The re-ingestion guard and ``scan --against erased`` are one matcher (issue 10, item 8): mirrored,
rotated, cropped and re-encoded copies of an erased photo are refused by ``ingest``, registered only
flagged with ``--allow-near-erased``, and ``check`` fails on a dataset holding them, through the real
command run as a person runs it."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageEnhance

import disgorge
from disgorge.errors import PolicyDenied
from disgorge.ingest import IngestOptions
from disgorge.ingest.pipeline import hash_one
from disgorge.model import AssetRecord
from disgorge.scan.guard import Guard
from tests.as_a_person import dg, dg_json
from tests.conftest import PEOPLE, approve, claim, write_photo

T = Image.Transpose
Edit = Callable[[Image.Image], Image.Image]


def _crop(fraction: float) -> Edit:
    def edit(im: Image.Image) -> Image.Image:
        dx, dy = round(im.width * fraction), round(im.height * fraction)
        return im.crop((dx, dy, im.width - dx, im.height - dy))

    return edit


TRANSFORMS: dict[str, tuple[Edit, str, int]] = {
    "mirrored": (lambda im: im.transpose(T.FLIP_LEFT_RIGHT), "JPEG", 85),
    "rotated90": (lambda im: im.transpose(T.ROTATE_90), "JPEG", 85),
    "rotated180": (lambda im: im.transpose(T.ROTATE_180), "JPEG", 85),
    "rotated270": (lambda im: im.transpose(T.ROTATE_270), "JPEG", 85),
    "upside-down": (lambda im: im.transpose(T.FLIP_TOP_BOTTOM), "JPEG", 85),
    "transposed": (lambda im: im.transpose(T.TRANSPOSE), "JPEG", 85),
    "transversed": (lambda im: im.transpose(T.TRANSVERSE), "JPEG", 85),
    "cropped5": (_crop(0.05), "JPEG", 85),
    "cropped10": (_crop(0.10), "JPEG", 85),
    "mirrored-cropped5": (lambda im: _crop(0.05)(im.transpose(T.FLIP_LEFT_RIGHT)), "JPEG", 85),
    "reencoded": (lambda im: im, "JPEG", 60),
    "halved": (lambda im: im.resize((im.width // 2, im.height // 2)), "JPEG", 80),
    "brighter": (lambda im: ImageEnhance.Brightness(im).enhance(1.2), "JPEG", 85),
    "webp": (lambda im: im, "WEBP", 50),
    "rotated90-webp": (lambda im: im.transpose(T.ROTATE_90), "WEBP", 50),
}
REQUIRED = ("mirrored", "rotated90", "cropped5", "reencoded")
"""The copies issue 10 names: each must be refused."""


def write_copy(original: Path, dest: Path, edit: Edit, fmt: str, quality: int) -> Path:
    im = Image.open(original).convert("RGB")
    buf = io.BytesIO()
    edit(im).save(buf, fmt, quality=quality)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(buf.getvalue())
    return dest


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, Path]:
    """(working directory, the plan that erased mallory's photo, a copy of that photo's bytes) in a home
    whose source allows operating the service by ``site``; bob's photo stays, in dataset ``kept``."""
    cwd = tmp_path / "work"
    gone = write_photo(cwd / "erased" / "mallory" / "p.jpg", "mallory", 99, size=(480, 360))
    original = shutil.copy(gone, tmp_path / "original.jpg")
    kept = write_photo(cwd / "kept" / "bob" / "p.jpg", "bob", 98, size=(480, 360))
    PEOPLE["ann"].save(cwd / "ann.identity")
    monkeypatch.setenv("DISGORGE_IDENTITY", str(cwd / "ann.identity"))
    with disgorge.open(cwd / "home", identity=PEOPLE["ann"]) as cat:
        claim(cat, PEOPLE)
        cat.add_source(
            "site",
            notice=b"We use your photos to operate the service.",
            uses=["essential.service"],
            recipients=["site"],
            categories=["user.content.self_image"],
        )
        opts = IngestOptions(source="site", subject_from="parent-dir", workers=1)
        cat.ingest(cwd / "erased", opts)
        sha = cat.store.asset(1).sha256
        cat.ingest(cwd / "kept", opts)
        cat.add_storage_root(cwd / "erased")
        plan, _ = cat.erasures.plan(
            scope=("asset", sha), withdrawn=False, reason="order", legal_basis="GDPR 17"
        )
        approve(cat, plan.id)
        assert cat.erasures.run(plan.id, dry_run=False).status == "done"
    assert not gone.exists() and kept.exists()
    return cwd, plan.id, Path(original)


def ingest(cwd: Path, folder: str, *extra: str, status: int) -> dict[str, object]:
    return dg_json(
        cwd, "ingest", folder, "--source", "site", "--subject-from", "parent-dir", *extra, status=status
    )  # type: ignore[no-any-return]


def test_each_named_copy_of_an_erased_photo_is_refused(world: tuple[Path, str, Path]) -> None:
    cwd, plan, original = world
    for name in REQUIRED:
        write_copy(original, cwd / "copies" / "mallory" / f"{name}.jpg", *TRANSFORMS[name])
    proc = dg(cwd, "ingest", "copies", "--source", "site", "--subject-from", "parent-dir")
    assert proc.returncode == 2, proc.stderr
    assert "0 new assets" in proc.stdout and "4 refused" in proc.stdout
    for name in REQUIRED:
        line = next(ln for ln in proc.stderr.splitlines() if f"{name}.jpg" in ln)
        assert "near_erased_content" in line and f"erased under plan {plan[:12]}" in line, line
        assert re.search(r"PDQ distance \d+", line) and "--allow-near-erased" in line, line
    out = ingest(cwd, "copies", status=2)
    assert {Path(p["path"]).stem: p["code"] for p in out["problems"]} == dict.fromkeys(  # type: ignore[attr-defined]
        REQUIRED, "near_erased_content"
    )
    assert out["new_assets"] == 0 and out["flags"] == []
    with disgorge.open(cwd / "home", identity=False) as cat:
        assert cat.store.asset_count() == 1  # bob's photo only


def test_allowed_near_copies_are_flagged_and_check_fails_on_them(world: tuple[Path, str, Path]) -> None:
    cwd, plan, original = world
    for name in REQUIRED:
        write_copy(original, cwd / "copies" / "mallory" / f"{name}.jpg", *TRANSFORMS[name])
    shutil.copy(original, cwd / "copies" / "mallory" / "exact.jpg")
    out = ingest(cwd, "copies", "--allow-near-erased", status=2)  # the exact copy is refused still
    assert [(Path(p["path"]).name, p["code"]) for p in out["problems"]] == [("exact.jpg", "erased_content")]  # type: ignore[attr-defined]
    assert {Path(f["path"]).stem for f in out["flags"]} == set(REQUIRED)  # type: ignore[attr-defined]
    assert all(f["code"] == "near_erased_content" and plan[:12] in f["reason"] for f in out["flags"])  # type: ignore[attr-defined]
    assert out["new_assets"] == 4
    (cwd / "copies" / "mallory" / "exact.jpg").unlink()

    (cwd / "kept.txt").write_text("kept/bob/p.jpg\n")
    (cwd / "mixed.txt").write_text(
        "kept/bob/p.jpg\n" + "".join(f"copies/mallory/{n}.jpg\n" for n in REQUIRED)
    )
    for name in ("kept", "mixed"):
        proc = dg(cwd, "dataset", "create", name, "--manifest", f"{name}.txt")
        assert proc.returncode == 0, proc.stderr
    args = ("--use", "essential.service", "--recipient", "site")
    assert dg(cwd, "check", "--dataset", "kept", *args).returncode == 0

    proc = dg(cwd, "check", "--dataset", "mixed", *args)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = " ".join(proc.stdout.split())
    assert "VIOLATION: 1 of 5 assets may be used" in text, text
    assert "│ 4 │ near_erased_content │" in text and plan[:12] in text, text  # counted, named
    report = dg_json(cwd, "check", "--dataset", "mixed", *args, status=1)
    assert report["ok"] is False and report["allowed"] == 1 and report["denied"] == 4
    assert [(v["reason"], v["count"]) for v in report["violations"]] == [("near_erased_content", 4)]
    assert report["flagged_near_erased"] == {plan: 4}

    with disgorge.open(cwd / "home", identity=PEOPLE["ann"]) as cat:
        with pytest.raises(PolicyDenied, match=r"4 of 5 assets .* near_erased_content"):
            cat.run("train", use="essential.service", party="site", inputs=["dataset:mixed"])
        with cat.run(
            "train", use="essential.service", party="site", inputs=["dataset:mixed"], compliant_subset=True
        ) as run:
            assert run.decision is not None and run.decision.ok and run.decision.total == 1
        with (
            cat.run("torch", use="essential.service", party="site", inputs=["dataset:kept"]) as run,
            pytest.raises(PolicyDenied, match="near_erased_content"),  # the torch datasets' gate
        ):
            run.use_dataset("mixed")


def _outcomes_by_guard(ingest_json: dict[str, object]) -> dict[str, tuple[str, int | None]]:
    out: dict[str, tuple[str, int | None]] = {}
    for p in ingest_json["problems"]:  # type: ignore[attr-defined]
        found = re.search(r"PDQ distance (\d+)", p["reason"])
        out[Path(p["path"]).name] = (p["code"], int(found[1]) if found else None)
    return out


def _outcomes_by_scan(scan_json: dict[str, object]) -> dict[str, tuple[str, int | None]]:
    """What the guard should say of each scanned object: an exact match, else the nearest."""
    exact: set[str] = set()
    nearest: dict[str, int] = {}
    for m in scan_json["matches"]:  # type: ignore[attr-defined]
        name = Path(m["object"]).name
        if m["match"] == "exact":
            exact.add(name)
        else:
            nearest[name] = min(m["distance"], nearest.get(name, 99))
    out: dict[str, tuple[str, int | None]] = {n: ("near_erased_content", d) for n, d in nearest.items()}
    out.update((n, ("erased_content", None)) for n in exact)
    return out


def test_the_guard_and_scan_against_erased_agree_on_every_transform(world: tuple[Path, str, Path]) -> None:
    cwd, _plan, original = world
    folder = cwd / "copies" / "mallory"
    for name, (edit, fmt, quality) in TRANSFORMS.items():
        write_copy(original, folder / f"{name}.{fmt.lower()}", edit, fmt, quality)
    shutil.copy(original, folder / "exact.jpg")
    for k in range(3):
        write_photo(folder / f"stranger{k}.jpg", f"stranger{k}", k, size=(480, 360))
    scanned = dg_json(cwd, "scan", "copies", "--against", "erased", status=1)
    ingested = ingest(cwd, "copies", status=2)
    by_scan, by_guard = _outcomes_by_scan(scanned), _outcomes_by_guard(ingested)
    assert by_guard == by_scan
    assert {n.split(".")[0] for n in by_guard} == {*TRANSFORMS, "exact"}  # every transform is found
    assert ingested["new_assets"] == 3  # the strangers


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    turns=st.integers(0, 3),
    flip=st.booleans(),
    crop=st.sampled_from([0.0, 0.03, 0.05, 0.08, 0.12]),
    scale=st.sampled_from([1.0, 0.75, 0.5]),
    quality=st.integers(40, 95),
)
def test_the_guard_decides_as_the_scan_matches(
    world: tuple[Path, str, Path], turns: int, flip: bool, crop: float, scale: float, quality: int
) -> None:
    """Whatever the transform, the guard refuses a copy exactly when the scan finds it, at the same
    distance: both call one matcher on the same hashes."""
    cwd, plan, original = world

    def edit(im: Image.Image) -> Image.Image:
        im = _crop(crop)(im.transpose(T.FLIP_LEFT_RIGHT) if flip else im).rotate(90 * turns, expand=True)
        return im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))))

    path = write_copy(original, cwd / "prop" / "copy.jpg", edit, "JPEG", quality)
    with disgorge.open(cwd / "home", identity=PEOPLE["ann"]) as cat:
        found = cat.scan([str(path)], against="erased").matches
        record = hash_one((str(path), "mallory", (), {}), dihedral=True)
        assert isinstance(record, AssetRecord)
        guard = Guard(cat.store, cat.indexes)
        try:
            keep, refused, flags = guard.screen([record])
        finally:
            guard.close()
    assert flags == []
    if not found:
        assert refused == [] and len(keep) == 1
        return
    (problem,) = refused
    best = min(m["distance"] for m in found)
    assert problem.code == "near_erased_content" and f"PDQ distance {best}," in problem.reason
    assert {m["erased_by_plan"] for m in found} == {plan}


def test_without_tombstones_ingest_skips_the_dihedral_forms(tmp_path: Path) -> None:
    """Nothing erased, nothing to match: the forms are not computed (and nothing is refused)."""
    write_photo(tmp_path / "photos" / "ann" / "a.jpg", "ann", 1)
    with disgorge.open(tmp_path / "home") as cat:
        cat.add_source(
            "site", notice=b"n", uses=["essential.service"], categories=["user.content.self_image"]
        )
        guard = Guard(cat.store, cat.indexes)
        assert not guard.active()
        summary = cat.ingest(tmp_path / "photos", IngestOptions(source="site", subject_from="parent-dir"))
    assert summary.new_assets == 1 and summary.problems == [] and summary.flags == []
    task = (str(tmp_path / "photos" / "ann" / "a.jpg"), "ann", (), {})
    quick, full = hash_one(task), hash_one(task, dihedral=True)
    assert isinstance(quick, AssetRecord) and isinstance(full, AssetRecord)
    assert quick.forms == () and len(full.forms) == 8 and full.forms[0] == full.pdq == quick.pdq
    assert full.crops == quick.crops
