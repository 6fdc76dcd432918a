""" "Was my photo used?": the question a data subject asks about one photo.

The answer names only what the photo (or a near copy of it) went into: datasets and models. It never
reveals other subjects, other photos or metadata, and it declines to answer for a low-quality or
near-blank image, where a perceptual match would be a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disgorge.catalog import CatalogStore
from disgorge.errors import InputError
from disgorge.hashing.image import LOW_QUALITY
from disgorge.lineage import Scope, impact
from disgorge.neardup import DEFAULT_RADIUS
from disgorge.scan.indexes import Indexes
from disgorge.scan.scan import ScanReport, _match, hash_object


@dataclass(slots=True)
class LookupResult:
    photo: str
    answered: bool
    reason: str = ""
    matches: list[dict[str, Any]] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)
    """The matched catalog assets, for filing an erasure request; never part of the answer shown."""

    @property
    def found(self) -> bool:
        return bool(self.matches)

    def to_json(self) -> dict[str, Any]:
        return {
            "photo": self.photo,
            "answered": self.answered,
            "reason": self.reason,
            "found": self.found,
            "matches": self.matches,
        }


def lookup(
    store: CatalogStore, indexes: Indexes, photo: Path, *, radius: int = DEFAULT_RADIUS
) -> LookupResult:
    try:
        data = photo.read_bytes()
    except OSError as exc:
        raise InputError(f"photo {photo}: cannot read it ({exc.strerror})") from exc
    return lookup_bytes(store, indexes, data, str(photo), uri=photo.absolute().as_uri(), radius=radius)


def lookup_bytes(
    store: CatalogStore,
    indexes: Indexes,
    data: bytes,
    photo: str,
    *,
    uri: str = "upload:photo",
    radius: int = DEFAULT_RADIUS,
) -> LookupResult:
    """:func:`lookup` of a photo's bytes (an upload to the server's public lookup)."""
    item = hash_object(uri, data)
    if item.problem:
        raise InputError(
            f"photo {photo}: {item.problem.replace('_', ' ')}", hint="give a JPEG, PNG or WebP photo"
        )
    if not item.codes:
        raise InputError(f"photo {photo}: not an image", hint="give a JPEG, PNG or WebP photo")
    result = LookupResult(photo, True)
    report = ScanReport("catalog", radius)
    index = indexes.open("catalog")
    try:
        _match(store, index, "catalog", [item], radius, None, report)
    finally:
        index.close()
    exact_only = item.quality is None or item.quality < LOW_QUALITY
    if exact_only and not any(m["match"] == "exact" for m in report.matches):
        return LookupResult(
            photo,
            False,
            f"image quality {item.quality} is below {LOW_QUALITY}: too blank or "
            "too small to match reliably; only an exact copy could be confirmed, and none was found",
        )
    for m in report.matches:
        imp = impact(store, Scope("asset", m["asset"]))
        result.assets.append(str(m["asset"]))
        result.matches.append(
            {
                "match": m["match"],
                "distance": m["distance"],
                "via": m["via"],
                "datasets": [d["ref"] for d in imp.datasets],
                "models": sorted(x["name"] or x["sha256"][:12] for x in imp.models),
                "recipients": imp.recipients,
                "uses": sorted({str(r["use"]) for r in imp.runs if r.get("use")}),
                "deployed": bool(imp.deployments),
            }
        )
    return result
