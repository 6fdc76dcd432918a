"""``disgorge demo``: the story on a generated corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from disgorge.cli.app import app
from disgorge.cli.output import out


@app.command()
def demo(
    home: Annotated[Path, typer.Option(help="Home for the demo's catalog and corpus.")] = Path(
        ".disgorge-demo"
    ),
    subjects: Annotated[int, typer.Option(help="Dating-site members to generate.")] = 300,
    photos: Annotated[int, typer.Option(help="Photos per member (about).")] = 8,
    research_subjects: Annotated[int, typer.Option(help="Consenting research volunteers to generate.")] = 40,
    reset: Annotated[bool, typer.Option(help="Delete the demo home first.")] = False,
    story_files: Annotated[
        Path | None,
        typer.Option(help="Only write the README story's input files into this folder, then stop."),
    ] = None,
) -> None:
    """Generate a dating site's photos, record a partner's training on them, and show the impact."""
    if story_files is not None:
        from disgorge.demo.story_files import write_story_files

        for p in write_story_files(story_files):
            out.print(f"wrote {p}", markup=False, highlight=False, soft_wrap=True)
        return
    from disgorge.demo import DemoOptions, run_demo

    opts = DemoOptions(
        home=home,
        subjects=subjects,
        photos_per_subject=photos,
        research_subjects=research_subjects,
        reset=reset,
    )
    run_demo(opts, lambda line: out.print(line, markup=False, highlight=False, soft_wrap=True)).close()
