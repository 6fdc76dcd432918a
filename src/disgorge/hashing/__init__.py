"""Content identity: streaming sha256, keyed pseudonyms, canonical JSON and perceptual hashes."""

from disgorge.hashing.canonical import canonical_json, canonical_row
from disgorge.hashing.digest import sha256_file
from disgorge.hashing.keyed import KeyedHasher, load_or_create_key

__all__ = ["KeyedHasher", "canonical_json", "canonical_row", "load_or_create_key", "sha256_file"]
