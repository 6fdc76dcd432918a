"""``mlflow.log_input(disgorge_dataset("faces@1"))``: the exact dataset version and its manifest digest.

MLflow's own digest is an md5 of a sample cut to 8 hex characters; this dataset's digest is the start of
the version's RFC 9162 manifest root, and its source carries the whole root, so the run is pinned to the
records it read."""

from __future__ import annotations

import json
from typing import Any

from mlflow.data.dataset import Dataset
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import register_dataset_source

import disgorge

SOURCE_TYPE = "disgorge"


class DisgorgeDatasetSource(DatasetSource):
    """A dataset version in a Disgorge catalog: ``disgorge:NAME@V`` and its manifest digest."""

    def __init__(self, ref: str, digest: str | None = None) -> None:
        self.ref = ref
        self.digest = digest

    @staticmethod
    def _get_source_type() -> str:
        return SOURCE_TYPE

    def load(self, **kwargs: Any) -> Any:
        """The version's member sha256 values, read from the catalog of ``$DISGORGE_HOME``."""
        with disgorge.open() as cat:
            info = cat.store.get_dataset(self.ref)
            from disgorge.catalog.schema import Asset

            ids = list(cat.store.members(info.id))
            with cat.store.session() as s:
                return [a.sha256 for a in s.query(Asset).filter(Asset.id.in_(ids)).order_by(Asset.sha256)]

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return isinstance(raw_source, str) and raw_source.startswith("disgorge:")

    @classmethod
    def _resolve(cls, raw_source: Any) -> DisgorgeDatasetSource:
        return cls(str(raw_source).removeprefix("disgorge:"))

    def to_dict(self) -> dict[str, Any]:
        return {"uri": f"disgorge:{self.ref}", "ref": self.ref, "digest": self.digest}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> DisgorgeDatasetSource:
        return cls(str(source_dict["ref"]), source_dict.get("digest"))


class DisgorgeDataset(Dataset):
    def __init__(self, source: DisgorgeDatasetSource, name: str, digest: str, members: int) -> None:
        self._members = members
        super().__init__(source=source, name=name, digest=digest)

    def _compute_digest(self) -> str:
        return str(self._digest)

    @property
    def profile(self) -> Any:
        return {"members": self._members}

    @property
    def schema(self) -> Any:
        return None

    def to_dict(self) -> dict[str, str]:
        out = super().to_dict()
        out["profile"] = json.dumps(self.profile)
        return out


def disgorge_dataset(ref: str, catalog: disgorge.Catalog | None = None) -> DisgorgeDataset:
    """The dataset version ``ref`` (``NAME`` for the newest) as an MLflow dataset for ``log_input``."""
    own = catalog is None
    cat = catalog or disgorge.open()
    try:
        info = cat.store.get_dataset(ref)
    finally:
        if own:
            cat.close()
    source = DisgorgeDatasetSource(info.ref, info.digest)
    return DisgorgeDataset(source, name=info.ref, digest=info.digest[:32], members=info.member_count)


register_dataset_source(DisgorgeDatasetSource)  # type: ignore[arg-type]  # it takes the class
