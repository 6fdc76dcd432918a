"""The data subjects' lookup: no token, rate-limited per address, and it tells a person only whether
*their* photo (or a near copy) was used and how, never anything about anyone else."""

from __future__ import annotations

import json
from pathlib import Path

import disgorge
from tests.conftest import write_photo

from .conftest import LiveServer
from .rest import photos, record


def test_lookup_reveals_only_used_or_not_for_that_photo(cat: disgorge.Catalog, tmp_path: Path) -> None:
    files = {"alice": photos(tmp_path / "w", "alice", 2, 100), "bob": photos(tmp_path / "w", "bob", 2, 200)}
    from disgorge.ingest.pipeline import hash_one
    from disgorge.model import AssetRecord

    records = []
    for subject, paths in files.items():
        for p in paths:
            r = hash_one((str(p), subject, (), {}))
            assert isinstance(r, AssetRecord)
            records.append(r)
    cat.register_records("site", records)
    faces, _ = cat.create_dataset("faces-secret-name", source="site")
    with cat.run("train-secret", use="essential.service", party="site", inputs=[f"dataset:{faces.ref}"]):
        pass
    server = LiveServer(
        tmp_path, catalog_url=cat.store.url, DISGORGE_LOOKUP_BURST="6", DISGORGE_LOOKUP_PER_MINUTE="1"
    )
    try:
        import httpx

        c = httpx.Client(base_url=server.url, timeout=30)
        mine = files["alice"][0].read_bytes()
        r = c.post("/api/v1/lookup", content=mine, headers={"Content-Type": "image/jpeg"})
        assert r.status_code == 200, r.text
        assert r.json() == {
            "answered": True,
            "used": True,
            "kinds": ["dataset", "shared_with_recipient", "stored"],
            "uses": ["essential.service"],
            "reason": "",
        }
        from PIL import Image

        near = tmp_path / "near.jpg"
        Image.open(files["alice"][0]).resize((300, 225)).save(near, "JPEG", quality=70)
        assert c.post("/api/v1/lookup", content=near.read_bytes()).json()["used"] is True

        stranger = write_photo(tmp_path / "stranger.jpg", "stranger", 999)
        r = c.post("/api/v1/lookup", content=stranger.read_bytes())
        assert r.json() == {"answered": True, "used": False, "kinds": [], "uses": [], "reason": ""}

        text = json.dumps(c.post("/api/v1/lookup", content=files["bob"][1].read_bytes()).json())
        for secret in ("bob", "alice", "faces-secret-name", "train-secret", "site", files["bob"][1].name):
            assert secret not in text, secret
        assert record(files["bob"][1], None)["sha256"] not in text

        r = c.post("/api/v1/lookup", content=b"not a photo")
        assert r.status_code == 400 and r.json()["error"] == "disgorge.input"
        assert c.post("/api/v1/lookup", content=mine).status_code == 200
        r = c.post("/api/v1/lookup", content=mine)
        assert r.status_code == 429 and r.json()["error"] == "disgorge.rate_limited"
        assert int(r.headers["retry-after"]) >= 1
        c.close()
    finally:
        server.stop()
