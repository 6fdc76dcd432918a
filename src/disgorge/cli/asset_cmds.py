"""Commands on one asset: the explicit corrections that ingest refuses to make on its own."""

from __future__ import annotations

from typing import Annotated

import typer

from disgorge.cli.app import HomeOpt, JsonOpt, app, catalog
from disgorge.cli.output import emit_json, out

asset_app = typer.Typer(help="Single assets and explicit corrections to them.", no_args_is_help=True)
app.add_typer(asset_app, name="asset")


@asset_app.command("set-subject")
def set_subject(
    sha256: Annotated[str, typer.Argument(help="The asset's sha256 (or 8+ leading hex digits).")],
    subject: Annotated[str, typer.Option(help="External subject id (stored as its keyed pseudonym).")],
    reason: Annotated[str, typer.Option(help="Why the attribution changes; written to the ledger.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Attribute an asset to a subject, replacing the subject it had: the one way to resolve a
    subject_conflict that ingest reported. The change and its reason are ledgered."""
    with catalog(home) as cat:
        asset, changed = cat.set_subject(sha256, subject, reason=reason)
    if json:
        emit_json({"sha256": asset.sha256, "changed": changed, "subject": "<pseudonymised>"})
    elif changed:
        out.print(f"asset {asset.sha256[:12]} now belongs to the given subject (ledgered)")
    else:
        out.print(f"asset {asset.sha256[:12]} already belonged to that subject: nothing changed")
