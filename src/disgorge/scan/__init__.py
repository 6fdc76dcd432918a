"""Finding content: residual scans and "was my photo used?" lookups, exact and near-duplicate."""

from disgorge.scan.indexes import Indexes
from disgorge.scan.lookup import LookupResult, lookup
from disgorge.scan.scan import ScanReport, hash_object, scan

__all__ = ["Indexes", "LookupResult", "ScanReport", "hash_object", "lookup", "scan"]
