"""The registration pipeline: scan files or a manifest, hash in parallel, register in atomic batches."""

from disgorge.ingest.manifest import ManifestRow, read_manifest
from disgorge.ingest.pipeline import IngestOptions, ingest

__all__ = ["IngestOptions", "ManifestRow", "ingest", "read_manifest"]
