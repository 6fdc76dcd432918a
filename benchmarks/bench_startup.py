"""Start-up time of the ``disgorge`` command (issue 9, item 11): ``--help`` and ``source list`` against
``python -c pass`` (the interpreter's own floor) in the same run, interleaved so the machine's load
weighs on all alike. Each command runs R times as a fresh process; wall and CPU (user + system) time
are reported, min and median; the goal is ``--help`` <= 0.3 s and ``source list`` <= 0.5 s.

The home is a fresh catalog with one source, claimed by an identity (so ``source list`` resolves the
principal from the signed roster, as every command on a managed catalog does).

    python benchmarks/bench_startup.py            # 15 rounds
    python benchmarks/bench_startup.py --quick    # 5 rounds
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[0]))

from _common import machine, table

DISGORGE = str(Path(sys.executable).parent / "disgorge")


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed: {proc.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rounds = 5 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(cwd),
            "DISGORGE_HOME": str(cwd / "home"),
            "DISGORGE_IDENTITY": str(cwd / "ann.identity"),
            "LANG": "C.UTF-8",
        }
        (cwd / "n.txt").write_text("notice")
        for setup in (
            ["identity", "init", "ann", "--file", str(cwd / "ann.identity")],
            ["init"],
            ["source", "add", "site", "--notice", "n.txt", "--uses", "essential.service"],
        ):
            run_once([DISGORGE, *setup], env, cwd)
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "disgorge --version": [DISGORGE, "--version"],
            "disgorge --help": [DISGORGE, "--help"],
            "disgorge source list": [DISGORGE, "source", "list"],
        }
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
        for r in range(rounds):
            order = list(cases)[r % len(cases) :] + list(cases)[: r % len(cases)]
            for name in order:
                results[name].append(run_once(cases[name], env, cwd))
    floor = min(w for w, _ in results["python -c pass"])
    rows = []
    for name, samples in results.items():
        walls, cpus = [w for w, _ in samples], [c for _, c in samples]
        rows.append(
            [
                name,
                f"{min(walls):.3f}",
                f"{statistics.median(walls):.3f}",
                f"{statistics.median(cpus):.3f}",
                f"{min(walls) - floor:.3f}",
            ]
        )
    print(f"machine: {machine()}; load {os.getloadavg()[0]:.2f}; {rounds} rounds")
    print(table(["command", "wall min s", "wall median s", "CPU median s", "over python min s"], rows))


if __name__ == "__main__":
    main()
