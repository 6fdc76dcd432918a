"""Recipients and their notices: the channel an admin binds to each party (``recipient set/list``),
and the party's signed acknowledgement (``notice ack``, offline, and ``notice record-ack``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from disgorge.cli.app import HomeOpt, JsonOpt, app, catalog
from disgorge.cli.output import emit_json, err, out
from disgorge.errors import InputError

recipient_app = typer.Typer(
    help="Recipients of data: the channel each is sent erasure notices by.", no_args_is_help=True
)
notice_app = typer.Typer(help="Erasure notices: a recipient's signed acknowledgement.", no_args_is_help=True)
app.add_typer(recipient_app, name="recipient")
app.add_typer(notice_app, name="notice")


def _key_text(value: str) -> str:
    """A verifier key given as the string itself or as a file holding it."""
    path = Path(value)
    if "+" not in value and path.is_file():
        try:
            return path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"key file {path}: cannot read it ({exc})") from exc
    return value.strip()


@recipient_app.command("set")
def recipient_set(
    party: Annotated[str, typer.Argument(help="The recipient party, as runs name it (--party).")],
    webhook: Annotated[
        str | None, typer.Option(help="An https:// URL that accepts notices by POST (2xx = accepted).")
    ] = None,
    command: Annotated[
        str | None,
        typer.Option(
            help="A command that gets the notice on stdin and its path in $DISGORGE_NOTICE (exit 0 = accepted)."
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(help="The recipient's public key (or a file holding it): who may acknowledge for it."),
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Bind a party to its delivery channel and acknowledgement key (admins only): a recipient.set
    statement signed with your identity."""
    with catalog(home) as cat:
        binding = cat.recipients.set_channel(
            party, webhook=webhook, command=command, key=_key_text(key) if key is not None else None
        )
    if json:
        emit_json(binding.to_json())
        return
    from disgorge.trust.notices import describe

    acks = f"acknowledged with {binding.key}" if binding.key else "no acknowledgement key (give --key)"
    out.print(
        f"channel for {binding.party}: {describe(binding.channel)}; {acks}; signed by {binding.set_by} "
        f"(ledger entry {binding.index})",
        markup=False,
        soft_wrap=True,
    )


@recipient_app.command("list")
def recipient_list(home: HomeOpt = None, json: JsonOpt = False) -> None:
    """Each party's channel and acknowledgement key, verified from the signed statements."""
    with catalog(home) as cat:
        bindings, problems = cat.recipients.list()
    if json:
        emit_json({"recipients": [b.to_json() for b in bindings], "set_aside": problems})
        return
    from disgorge.trust.notices import describe

    t = Table("party", "channel", "acknowledgement key", "set by", "entry")
    for b in bindings:
        t.add_row(b.party, describe(b.channel), b.key or "-", b.set_by, str(b.index))
    out.print(t)
    for p in problems:
        err.print(f"[bold yellow]set aside[/]: {p}", soft_wrap=True)


@notice_app.command("ack")
def notice_ack(
    notice: Annotated[Path, typer.Argument(help="The notice file you received.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the acknowledgement.")],
    identity: Annotated[
        Path | None,
        typer.Option(
            help="Your identity file (default $DISGORGE_IDENTITY, else ~/.config/disgorge/identity)."
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(help="The catalog's public key file: check the notice is signed by it first."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Acknowledge a notice with your own key (offline: no catalog); send the file back to the catalog."""
    from disgorge.hashing.canonical import canonical_json
    from disgorge.trust import Identity, default_path
    from disgorge.trust.notices import acknowledge, parse_notice

    try:
        data = notice.read_bytes()
    except OSError as exc:
        raise InputError(f"notice {notice}: cannot read it ({exc.strerror})") from exc
    doc = parse_notice(data, f"notice {notice}")
    signer = None
    if key is not None:
        from disgorge.ledger.keys import read_trusted_keys

        signer = doc.verify(read_trusted_keys(key))
    signed = acknowledge(Identity.load(identity or default_path()), doc)
    output.write_bytes(canonical_json(signed.to_json()) + b"\n")
    info = {
        "notice_id": doc.notice_id,
        "party": doc.party,
        "plan_id": doc.plan_id,
        "acknowledged_by": signed.principal,
        "notice_signed_by": signer,
        "ack": str(output),
    }
    if json:
        emit_json(info)
        return
    checked = f"; the notice is signed by the catalog's key {signer}" if signer else ""
    out.print(
        f"acknowledged notice {doc.notice_id[:16]} for {doc.party} as {signed.principal}{checked}; "
        f"send {output} back (the catalog records it with: disgorge notice record-ack {output})",
        markup=False,
        soft_wrap=True,
    )


@notice_app.command("record-ack")
def notice_record_ack(
    ack: Annotated[Path, typer.Argument(help="The acknowledgement file a recipient sent back.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Verify a recipient's acknowledgement against the key an admin bound to the party, and record it
    in the ledger (requesters and admins)."""
    from disgorge.notices import load_ack

    signed = load_ack(ack)
    with catalog(home) as cat:
        result = cat.recipients.record_ack(signed)
    if json:
        emit_json(result)
        return
    verb = "recorded" if result["recorded"] else "already recorded"
    out.print(
        f"acknowledgement by {result['acknowledged_by']} of {result['party']}'s notice "
        f"{result['notice_id'][:16]} (plan {result['plan_id'][:12]}) {verb} at ledger entry {result['ledger_index']}",
        markup=False,
        soft_wrap=True,
    )
