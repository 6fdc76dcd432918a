"""Erasure requests filed by data subjects from the lookup page, for a privacy officer to act on.

Kept as files in the server's home (mode 0600), not in the catalog's settings: settings are ledger
entries, and the ledger is permanent, while a request names content that is about to be erased. A
request holds the matched assets' sha256 until a plan is made from it, then only the plan's id."""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from disgorge.errors import NotFoundError


class SubjectRequests:
    def __init__(self, home: Path) -> None:
        self.dir = home / "subject-requests"

    def file(self, assets: list[str], contact: str) -> str:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        rid = secrets.token_hex(8)
        doc = {
            "id": rid,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "assets": sorted(set(assets)),
            "contact": contact.strip()[:500],
            "plans": [],
        }
        fd = os.open(self.dir / f"{rid}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        return rid

    def list(self) -> list[dict[str, Any]]:
        if not self.dir.is_dir():
            return []
        out = [json.loads(p.read_text()) for p in self.dir.glob("*.json")]
        return sorted(out, key=lambda d: d["at"], reverse=True)

    def get(self, rid: str) -> dict[str, Any]:
        if not rid.isalnum():
            raise NotFoundError(f"no subject request {rid!r}")
        path = self.dir / f"{rid}.json"
        if not path.is_file():
            raise NotFoundError(f"no subject request {rid!r}")
        doc: dict[str, Any] = json.loads(path.read_text())
        return doc

    def planned(self, rid: str, asset: str, plan_id: str) -> None:
        """Record the plan made for one of the request's assets, and forget that asset's hash."""
        doc = self.get(rid)
        doc["assets"] = [a for a in doc["assets"] if a != asset]
        doc["plans"] = sorted({*doc["plans"], plan_id})
        tmp = self.dir / f".{rid}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        tmp.replace(self.dir / f"{rid}.json")
