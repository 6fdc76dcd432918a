"""Engines that hash and scan object stores beyond one process: this machine's process pool (the
default) or Ray (``pip install 'disgorge[ray]'``, ``--engine ray``), over S3 prefixes listed by the
driver, batch by batch, resumable from a journal in the catalog."""

from disgorge.engines.jobs import EngineOptions, ingest_s3, scan_s3

ENGINES = ("local", "ray")

__all__ = ["ENGINES", "EngineOptions", "ingest_s3", "scan_s3"]
