"""Subject attribution in the store, on SQLite and PostgreSQL: conflicts, late attribution, explicit
correction, purpose classes that follow, consent checked against notice versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import disgorge
from disgorge.errors import InputError, UsageError
from disgorge.ingest import IngestOptions
from disgorge.lineage import Scope, impact
from tests.conftest import write_photo


def manifest(root: Path, rows: str) -> IngestOptions:
    (root / "m.csv").write_text("path,subject_id\n" + rows)
    return IngestOptions(source="site", manifest=root / "m.csv", workers=1, no_subject=True)


def test_attribution_conflicts_and_corrections(cat: disgorge.Catalog, tmp_path: Path) -> None:
    root = tmp_path / "in"
    a = write_photo(root / "a.jpg", "alice", 1)
    shutil.copy(a, root / "a2.jpg")
    write_photo(root / "b.jpg", "bob", 2)
    s = cat.ingest(root, manifest(root, "a.jpg,\na2.jpg,\nb.jpg,bob\n"))
    assert (s.new_assets, s.unknown_subject, s.problems) == (2, 1, [])
    cat.create_dataset("all", source="site")
    assert impact(cat.store, Scope("source", "site")).unknown_subject_assets == {"site": 1}

    s = cat.ingest(root, manifest(root, "a.jpg,alice\na2.jpg,carol\nb.jpg,bob\n"))
    assert s.subjects_added == 1
    assert [(Path(p.path).name, p.code) for p in s.problems] == [("a2.jpg", "subject_conflict")]
    assert "manifest line 3 and manifest line 2" in s.problems[0].reason
    assert impact(cat.store, Scope("subject", "alice")).counts()["assets"] == 1
    assert impact(cat.store, Scope("source", "site")).unknown_subject_assets == {}
    (ds,) = cat.store.list_datasets()
    classes = cat.store.dataset_classes(ds.id)
    assert classes is not None and {has for (_, _, has) in classes} == {True}
    assert cat.store.get_dataset("all").stats["subject_count"] == 2

    s = cat.ingest(root, manifest(root, "a.jpg,carol\na2.jpg,alice\nb.jpg,bob\n"))
    assert [(Path(p.path).name, p.code) for p in s.problems] == [("a.jpg", "subject_conflict")]
    assert "nothing was changed" in s.problems[0].reason

    sha = cat.store.asset(cat.store.resolve_asset(s.problems[0].reason.split("sha256 ")[1][:12])).sha256
    with pytest.raises(UsageError, match="needs a reason"):
        cat.store.set_subject(sha, "carol", reason=" ")
    view, changed = cat.store.set_subject(sha, "carol", reason="the manifest of 2026 is right")
    assert changed and view.subject_id is not None
    assert cat.store.set_subject(sha, "carol", reason="again")[1] is False
    assert impact(cat.store, Scope("subject", "carol")).counts()["assets"] == 1
    assert impact(cat.store, Scope("subject", "alice")).counts()["assets"] == 0


def test_consent_names_only_notice_versions_the_subjects_sources_had(
    cat: disgorge.Catalog, tmp_path: Path
) -> None:
    write_photo(tmp_path / "in" / "alice" / "a.jpg", "alice", 1)
    cat.ingest(tmp_path / "in", IngestOptions(source="site", subject_from="parent-dir", workers=1))
    consent = tmp_path / "c.csv"
    head = "subject_id,use,recipient,action,timestamp,notice_version\n"
    consent.write_text(head + "alice,train_ai_system,acme,granted,2024-05-01T00:00:00Z,2\n")
    with pytest.raises(InputError, match=r"lines 2 \(v2\).*nothing was imported"):
        cat.import_consent(consent)
    consent.write_text(head + "alice,train_ai_system,acme,granted,2024-05-01T00:00:00Z,1\n")
    assert cat.import_consent(consent) == (1, True)
