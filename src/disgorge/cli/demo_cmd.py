"""``disgorge demo``: the story on a generated corpus."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from disgorge.cli.app import app
from disgorge.cli.output import out

if TYPE_CHECKING:
    from disgorge.api import Catalog


@contextmanager
def _serve(cat: Catalog) -> Iterator[str]:
    """``disgorge serve`` for the demo's catalog, in a thread on a free loopback port, while the block runs."""
    import socket
    import threading
    import time

    import uvicorn

    from disgorge.server.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(cat, job_workers=0), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="disgorge-demo-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the demo's server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@app.command()
def demo(
    home: Annotated[Path, typer.Option(help="Home for the demo's catalog and corpus.")] = Path(
        ".disgorge-demo"
    ),
    subjects: Annotated[int, typer.Option(help="Dating-site members to generate.")] = 300,
    photos: Annotated[int, typer.Option(help="Photos per member (about).")] = 8,
    research_subjects: Annotated[int, typer.Option(help="Consenting research volunteers to generate.")] = 40,
    reset: Annotated[bool, typer.Option(help="Delete the demo home first.")] = False,
    capture: Annotated[
        bool,
        typer.Option(
            help="Add the pipeline step of three producers (OpenLineage client, MLflow run, Hugging "
            "Face + torch script): needs the mlflow and hf extras and openlineage-python."
        ),
    ] = False,
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
        capture=_serve if capture else None,
    )
    run_demo(opts, lambda line: out.print(line, markup=False, highlight=False, soft_wrap=True)).close()
