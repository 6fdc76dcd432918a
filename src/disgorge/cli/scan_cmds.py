"""Commands that find content: scan and lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from disgorge.cli.app import HomeOpt, JsonOpt, app, catalog
from disgorge.cli.output import emit_json, err, out


@app.command("scan")
def scan_cmd(
    roots: Annotated[list[str], typer.Argument(help="Folders, files or s3:// prefixes to scan.")],
    against: Annotated[str, typer.Option(help="catalog, erased, or dataset:NAME[@V].")] = "catalog",
    radius: Annotated[int, typer.Option(help="Largest PDQ Hamming distance reported as a near match.")] = 31,
    engine: Annotated[
        str,
        typer.Option(
            help="Where s3:// prefixes are hashed: local (this machine's cores) or ray (pip install "
            "'disgorge[ray]'; joins RAY_ADDRESS's cluster if set). Resumes an interrupted scan."
        ),
    ] = "local",
    workers: Annotated[int, typer.Option(help="Batches hashed at once (default: every core or CPU).")] = 0,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Hash every object under the roots; report exact and near-duplicate matches (re-encoded,
    resized, mirrored, rotated, modestly cropped). Against ``erased``, any match exits 1."""
    with catalog(home) as cat:
        report = cat.scan(roots, against=against, radius=radius, workers=workers, engine=engine)
    if json:
        emit_json(report.to_json())
    else:
        out.print(
            f"scanned {report.scanned} objects ({report.bytes / 1e6:.1f} MB) against {against}: "
            f"{len(report.matches)} matches"
        )
        if report.engine and report.engine["resumed"]:
            out.print(
                f"resumed an interrupted scan on {report.engine['engine']}: "
                f"{report.engine['batches_skipped']} batches were already done"
            )
        for m in report.matches:
            what = m.get("asset") or f"content erased by plan {str(m.get('erased_by_plan'))[:12]}"
            out.print(
                f"  {m['match']:5} d={m['distance']:<3} via {m['via']:<15} {m['object']} -> {what}",
                soft_wrap=True,
            )
        for p in report.problems:
            err.print(f"  [yellow]{p['problem']}[/] {p['object']}")
    if against == "erased" and report.matches:
        raise typer.Exit(1)


@app.command("lookup")
def lookup_cmd(
    photo: Annotated[Path, typer.Argument(help="The photo to look for.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Is this photo, or a near copy, in the catalog, and which datasets and models used it?

    Reveals nothing about other people. Exit 0: used (it is in the catalog); 1: not found; 2: no
    answer, because the image is too blank or low-quality to match reliably (or is not an image)."""
    with catalog(home) as cat:
        result = cat.lookup(photo)
    if json:
        emit_json(result.to_json())
    elif not result.answered:
        out.print(f"no answer: {result.reason}")
    elif not result.found:
        out.print("this photo, or a near copy of it, is not in the catalog")
    if not result.answered:
        raise typer.Exit(2)
    if not result.found:
        raise typer.Exit(1)
    if not json:
        for m in result.matches:
            kind = "this exact photo" if m["match"] == "exact" else f"a near copy (distance {m['distance']})"
            out.print(
                f"{kind} is in datasets {', '.join(m['datasets']) or '-'}; "
                f"models trained on it: {', '.join(m['models']) or 'none'}"
            )
