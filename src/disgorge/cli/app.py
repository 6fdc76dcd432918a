"""The Typer application and its global options."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from disgorge.api import Catalog

app = typer.Typer(
    name="disgorge",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
source_app = typer.Typer(help="Data sources and their privacy notices.", no_args_is_help=True)
dataset_app = typer.Typer(help="Versioned, content-addressed datasets.", no_args_is_help=True)
run_app = typer.Typer(help="Training runs and what they read and wrote.", no_args_is_help=True)
model_app = typer.Typer(help="Models, their links and deployments.", no_args_is_help=True)
consent_app = typer.Typer(help="Per-subject consent events.", no_args_is_help=True)
erase_app = typer.Typer(help="Plan, approve, execute and verify erasures.", no_args_is_help=True)
storage_app = typer.Typer(help="Where erasure may act.", no_args_is_help=True)
ledger_app = typer.Typer(help="The tamper-evident ledger (RFC 9162, C2SP checkpoints).", no_args_is_help=True)
key_app = typer.Typer(help="The home's signing key.", no_args_is_help=True)
certificate_app = typer.Typer(help="Verify certificates of destruction offline.", no_args_is_help=True)
witness_app = typer.Typer(
    help="A witness that cosigns checkpoints (C2SP tlog-witness).", no_args_is_help=True
)
app.add_typer(source_app, name="source")
app.add_typer(dataset_app, name="dataset")
app.add_typer(run_app, name="run")
app.add_typer(model_app, name="model")
app.add_typer(consent_app, name="consent")
app.add_typer(erase_app, name="erase")
app.add_typer(storage_app, name="storage")
app.add_typer(ledger_app, name="ledger")
app.add_typer(key_app, name="key")
app.add_typer(certificate_app, name="certificate")
app.add_typer(witness_app, name="witness")


def _version(value: bool) -> None:
    if value:
        from disgorge import __version__

        typer.echo(f"disgorge {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Provenance, consent, record-level lineage and provable erasure for ML training data.

    Exit status: 0 success, 1 the answer is "no" (a refusal, a failed verification, not found),
    2 bad usage or input, 3 anything else (the traceback goes to a log file)."""


HomeOpt = Annotated[
    Path | None, typer.Option("--home", envvar="DISGORGE_HOME", help="Disgorge home (default ./.disgorge).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def catalog(home: Path | None) -> Catalog:
    """The home's catalog, or with ``DISGORGE_URL`` set, the server's (acting as ``DISGORGE_TOKEN``);
    every command creates the home on first use. Imported here, not at the top, so ``disgorge --help``
    never pays for the catalog and its libraries."""
    import os

    url = os.environ.get("DISGORGE_URL")
    if url:
        from typing import cast

        from disgorge.client import RemoteCatalog

        # The same methods with the same result types, for the commands the API serves; any other
        # attribute is a usage error naming what is not served yet.
        try:  # the command being run, to name it if it is refused (typer vendors its click)
            from typer._click.globals import get_current_context

            ctx = get_current_context(silent=True)
        except ImportError:  # pragma: no cover (another typer)
            ctx = None
        return cast("Catalog", RemoteCatalog(url, command=ctx.command_path if ctx else None))
    from disgorge.api import open as open_catalog

    cat = open_catalog(home)
    if cat.store.pending_lineage_top() is not None:  # what a server acknowledged, not folded yet
        from disgorge.capture import fold_pending

        fold_pending(cat.store)
    return cat


from disgorge.cli import (  # noqa: E402,F401  (registers the commands)
    asset_cmds,
    capture_cmds,
    catalog_cmds,
    certificate_cmds,
    demo_cmd,
    enforce_cmds,
    erase_cmds,
    job_cmds,
    lineage_cmds,
    notice_cmds,
    people_cmds,
    proof_cmds,
    scan_cmds,
    server_cmds,
    unlearning_cmds,
    witness_cmds,
)
