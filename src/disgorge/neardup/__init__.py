"""Exact near-duplicate search for 256-bit perceptual hashes (PDQ).

``HammingIndex`` answers "which stored codes are within Hamming distance r of this one" with no
miss, at tens of millions of codes, in pure numpy, persisted as memory-mapped files next to the
catalog. See ``docs/benchmarks.md`` for measured speed against faiss.
"""

from disgorge.neardup._codes import as_codes
from disgorge.neardup._result import Matches
from disgorge.neardup.index import DEFAULT_RADIUS, HammingIndex

__all__ = ["DEFAULT_RADIUS", "HammingIndex", "Matches", "as_codes"]
