"""Commands that build the catalog: init, source, ingest, dataset."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from disgorge.cli.app import HomeOpt, JsonOpt, app, catalog, dataset_app, source_app
from disgorge.cli.output import emit_json, err, out
from disgorge.errors import UsageError


def _split(values: list[str] | None) -> list[str]:
    return sorted({v.strip() for item in values or [] for v in item.split(",") if v.strip()})


@source_app.command("add")
def source_add(
    name: Annotated[str, typer.Argument(help="Source name, e.g. datingsite-2014.")],
    notice: Annotated[Path, typer.Option(help="Text of the privacy notice the data was collected under.")],
    uses: Annotated[
        list[str], typer.Option(help="Permitted data uses (fideslang keys), comma-separated or repeated.")
    ],
    recipients: Annotated[list[str] | None, typer.Option(help="Permitted recipients (parties).")] = None,
    categories: Annotated[
        list[str] | None, typer.Option(help="Default data categories of its assets.")
    ] = None,
    controller: Annotated[str | None, typer.Option(help="The data controller.")] = None,
    legal_basis: Annotated[str | None, typer.Option(help="Legal basis, e.g. consent or contract.")] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Register a source, or a new version of its notice when the notice changed."""
    with catalog(home) as cat:
        info, changed = cat.add_source(
            name,
            notice=notice,
            uses=_split(uses),
            recipients=_split(recipients),
            categories=_split(categories),
            controller=controller,
            legal_basis=legal_basis,
        )
    if json:
        emit_json({**asdict(info), "changed": changed})
    else:
        verb = "registered" if changed else "unchanged"
        out.print(
            f"source [bold]{name}[/] {verb}: notice v{info.notice_version}, uses {', '.join(info.uses) or '-'}"
        )


@source_app.command("list")
def source_list(home: HomeOpt = None, json: JsonOpt = False) -> None:
    """List sources with their current notice."""
    with catalog(home) as cat:
        sources = cat.sources()
    if json:
        emit_json([asdict(s) for s in sources])
        return
    t = Table("source", "notice", "uses", "recipients", "categories")
    for s in sources:
        t.add_row(
            s.name,
            f"v{s.notice_version}",
            ", ".join(s.uses),
            ", ".join(s.recipients),
            ", ".join(s.categories),
        )
    out.print(t)


@app.command("ingest")
def ingest_cmd(
    path: Annotated[str, typer.Argument(help="A file or folder to register, or s3://bucket/prefix.")],
    source: Annotated[str, typer.Option(help="The source the files were collected from.")],
    manifest: Annotated[
        Path | None, typer.Option(help="CSV or JSONL: path, subject_id, categories, metadata.")
    ] = None,
    subject_from: Annotated[
        str | None, typer.Option(help="'parent-dir': the folder name is the subject id.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Hashing processes (default: all cores, at most 2).")] = 0,
    allow_non_images: Annotated[bool, typer.Option(help="Register non-image files too (no PDQ).")] = False,
    no_subject: Annotated[
        bool,
        typer.Option(
            "--no-subject", help="Register files without a subject id as 'subject unknown' (else refused)."
        ),
    ] = False,
    allow_near_erased: Annotated[
        bool,
        typer.Option(
            "--allow-near-erased",
            help="Register near copies of erased content, flagged (check then denies them), instead of "
            "refusing them.",
        ),
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="Where s3:// prefixes are hashed: local (this machine's cores) or ray (pip install "
            "'disgorge[ray]'; joins RAY_ADDRESS's cluster if set). Resumes an interrupted ingest."
        ),
    ] = "local",
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Register files: sha256 and PDQ per file, one asset per distinct content, a copy per path.

    Every file needs a subject (a manifest's subject_id, or --subject-from parent-dir) unless
    --no-subject is given. Erased content is refused, and so are its near copies (mirrored, rotated,
    cropped or re-encoded) unless --allow-near-erased registers them flagged. Exit 0 when every file
    registered, 2 when some were refused (each is listed with its reason, including files under PATH
    that the manifest does not list).
    """
    if subject_from not in (None, "parent-dir"):
        raise UsageError(f"--subject-from {subject_from!r} is unknown", hint="the only value is parent-dir")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from disgorge.ingest import IngestOptions

    opts = IngestOptions(
        source, manifest, subject_from, workers, allow_non_images, no_subject, allow_near_erased, engine
    )
    target: Path | str = path if path.startswith("s3://") else Path(path)
    with (
        catalog(home) as cat,
        Progress(
            TextColumn("ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=json,
        ) as bar,
    ):
        task = bar.add_task("ingest", total=None)
        summary = cat.ingest(
            target, opts, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    if json:
        emit_json(summary.to_json())
    else:
        out.print(
            f"scanned {summary.scanned}: {summary.new_assets} new assets, {summary.new_copies} copies recorded, "
            f"{summary.unchanged} already known, {len(summary.problems)} refused "
            f"({summary.bytes_read / 1e6:.1f} MB read)"
        )
        if summary.engine and summary.engine["resumed"]:
            out.print(_resumed(summary.engine))
        if summary.flags:
            out.print(
                f"{len(summary.flags)} registered but flagged as near copies of erased content "
                "(every check denies them)"
            )
        if summary.subjects_added:
            out.print(f"{summary.subjects_added} known assets gained the subject they lacked")
        if summary.unknown_subject:
            out.print(
                f"{summary.unknown_subject} new assets have no known subject (an erasure by subject misses them)"
            )
        for p in summary.flags[:50]:
            err.print(f"  [magenta]flagged {p.code}[/] {p.path}: {p.reason}", soft_wrap=True)
        for p in summary.problems[:50]:
            err.print(f"  [yellow]{p.code}[/] {p.path}: {p.reason}", soft_wrap=True)
        if len(summary.problems) > 50:
            err.print(f"  … and {len(summary.problems) - 50} more (use --json for all)")
    if summary.problems:
        raise typer.Exit(2)


def _resumed(engine: dict[str, object]) -> str:
    return (
        f"resumed an interrupted run on {engine['engine']}: {engine['batches_skipped']} batches were already "
        f"done, {engine['batches_run']} hashed now"
    )


@dataset_app.command("create")
def dataset_create(
    name: Annotated[
        str, typer.Argument(help="Dataset name; each distinct member set becomes a new version.")
    ],
    source: Annotated[str | None, typer.Option(help="Every active asset of this source.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Members of dataset NAME[@VERSION] ...")] = None,
    where: Annotated[
        str | None, typer.Option(help='... filtered, e.g. "meta.age >= 18 and category has user".')
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="File of sha256 values or registered paths, one a line.")
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Create a dataset version (content-addressed: the same members give the same digest)."""
    with catalog(home) as cat:
        info, created = cat.create_dataset(
            name, source=source, from_dataset=from_, where=where, manifest=manifest
        )
    if json:
        emit_json({**asdict(info), "ref": info.ref, "created": created})
    else:
        verb = "created" if created else "unchanged (same members as the latest version)"
        out.print(
            f"dataset [bold]{info.ref}[/] {verb}: {info.member_count} members, digest {info.digest[:16]}…"
        )


@dataset_app.command("list")
def dataset_list(home: HomeOpt = None, json: JsonOpt = False) -> None:
    """List dataset versions."""
    with catalog(home) as cat:
        items = cat.datasets()
    if json:
        emit_json([{**asdict(d), "ref": d.ref} for d in items])
        return
    t = Table("dataset", "members", "subjects", "digest", "derived from")
    for d in items:
        t.add_row(
            d.ref, str(d.member_count), str(d.stats.get("subject_count", "")), d.digest[:16], d.query or ""
        )
    out.print(t)


@dataset_app.command("show")
def dataset_show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show one dataset version: members, digest, sources, subjects and categories."""
    with catalog(home) as cat:
        d = cat.dataset(ref)
    if json:
        emit_json({**asdict(d), "ref": d.ref})
        return
    out.print(f"[bold]{d.ref}[/]  {d.member_count} members  digest {d.digest}")
    if d.derived_from:
        out.print(f"derived from {d.derived_from} where {d.query}")
    out.print(f"sources: {d.stats.get('sources')}  subjects: {d.stats.get('subject_count')}")
    out.print(f"categories: {', '.join(d.stats.get('categories', []))}")
