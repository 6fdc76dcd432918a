"""Coverage-guided fuzzing of the hashing path with atheris (optional; not run by pytest or CI).

    .venv/bin/pip install -c constraints.txt -e '.[fuzz]'
    .venv/bin/python tests/fuzz/atheris_hashing.py -max_total_time=300 -rss_limit_mb=2048 CORPUS_DIR

Seeds are the real images of ``tests/fuzz/seeds.py`` and the kept crashers of ``tests/assets/fuzz/image``
(written to CORPUS_DIR first). Any exception other than ImageProblem is a bug: libFuzzer stops and
writes the input as ``crash-*``; keep it in ``tests/assets/fuzz/image/`` named after what it triggers.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports():
    import PIL.Image  # noqa: F401

    from disgorge.hashing.image import ImageProblem, hash_variants

from tests.fuzz.seeds import seeds

KEPT = Path(__file__).resolve().parents[1] / "assets" / "fuzz" / "image"


def one_input(data: bytes) -> None:
    with contextlib.suppress(ImageProblem):
        hash_variants(data, dihedral=False)


def main() -> None:
    warnings.simplefilter("ignore")
    dirs = [a for a in sys.argv[1:] if not a.startswith("-")]
    if dirs:
        corpus = Path(dirs[0])
        corpus.mkdir(parents=True, exist_ok=True)
        for name, data in seeds().items():
            (corpus / f"seed-{name}").write_bytes(data)
        for f in KEPT.iterdir():
            (corpus / f"kept-{f.name}").write_bytes(f.read_bytes())
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
