"""Commands for proof: ledger checkpoint / verify / prove, and the signing key."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from disgorge.cli.app import HomeOpt, JsonOpt, catalog, key_app, ledger_app
from disgorge.cli.output import emit_json, err, out
from disgorge.errors import InputError, UsageError


def configured_cosigner(cat: Any, urls: list[str] | None = None) -> Any:
    """The witnesses to ask: those given, else those an admin configured (``ledger witness add``)."""
    from disgorge.witness.client import configured_cosigner as configured

    if getattr(cat, "remote", False):  # a server's checkpoints are cosigned by its own witnesses
        return configured({}, urls) if urls else None
    return configured(cat.store.settings, urls)


@ledger_app.command("checkpoint")
def ledger_checkpoint(
    witness: Annotated[
        list[str] | None,
        typer.Option(help="Ask this witness (URL) to cosign; default: the configured witnesses."),
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign the ledger's current size and root (a C2SP tlog-checkpoint signed note), cosigned by the
    witnesses (C2SP tlog-witness and tlog-cosignature) given or configured."""
    with catalog(home) as cat:
        cp = cat.proofs.checkpoint(cosigner=configured_cosigner(cat, witness))
    if json:
        emit_json(cp)
    else:
        sys.stdout.write(cp["checkpoint"])  # verbatim: the signed note is saved and checked byte for byte


witness_app = typer.Typer(help="The witnesses that cosign this ledger's checkpoints.", no_args_is_help=True)
ledger_app.add_typer(witness_app, name="witness")


@witness_app.command("add")
def ledger_witness_add(
    url: Annotated[str, typer.Argument(help="The witness's URL (its add-checkpoint endpoint's base).")],
    key: Annotated[str, typer.Option(help="The witness's verifier key (`disgorge witness init` prints it).")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Have this witness cosign every checkpoint, certificates' included (admins only)."""
    with catalog(home) as cat:
        items = cat.add_witness(url, key)
    if json:
        emit_json({"witnesses": items})
    else:
        out.print(f"{len(items)} witness(es): " + ", ".join(w["url"] for w in items), markup=False)


@witness_app.command("list")
def ledger_witness_list(home: HomeOpt = None, json: JsonOpt = False) -> None:
    """The witnesses that cosign this ledger's checkpoints."""
    with catalog(home) as cat:
        items = cat.witnesses()
    if json:
        emit_json({"witnesses": items})
    else:
        for w in items:
            out.print(f"{w['url']}  {w['key']}", markup=False)


@ledger_app.command("verify")
def ledger_verify(
    from_: Annotated[
        Path | None, typer.Option("--from", help="An earlier checkpoint note kept elsewhere.")
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Recompute the tree from every entry and check every checkpoint against it (exit 1 on any edit,
    truncation, reordering or fork)."""
    earlier = None
    if from_ is not None:
        try:
            earlier = from_.read_text()
        except OSError as exc:
            raise InputError(f"checkpoint {from_}: cannot read it ({exc.strerror})") from exc
    with catalog(home) as cat:
        result = cat.proofs.verify(earlier)
    if json:
        emit_json(result)
    else:
        out.print(
            f"ledger OK: {result['entries']} entries, {result['checkpoints']} checkpoints ({result['origin']})"
        )


@ledger_app.command("prove")
def ledger_prove(
    entry: Annotated[int, typer.Argument(help="Entry index.")], home: HomeOpt = None, json: JsonOpt = False
) -> None:
    """An RFC 9162 inclusion proof of one entry against the latest checkpoint."""
    with catalog(home) as cat:
        proof = cat.proofs.prove(entry)
    if json:
        emit_json(proof)
    else:
        out.print(
            f"entry {proof['index']} of {proof['tree_size']}: {proof['entry']}", markup=False, soft_wrap=True
        )
        out.print(f"root {proof['root']}; proof: {len(proof['proof'])} hashes")


@key_app.command("export-public")
def key_export_public(home: HomeOpt = None) -> None:
    """Print the signing key's public verifier key (for `--key FILE`); retired keys stay in keys/keyring.json."""
    with catalog(home) as cat:
        print(cat.signing_key())


@key_app.command("export")
def key_export(
    secret: Annotated[
        bool, typer.Option("--secret", help="Required: the output holds the home's private keys.")
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Print the home's keys (pseudonym key, signing key, keyring) as JSON, for a second home on the
    same catalog: `disgorge key export --secret > home-secrets.json`. Keep the file private."""
    from disgorge.settings import export_home_secrets

    if not secret:
        raise UsageError(
            "`key export` prints private keys; say so with --secret",
            hint="for the public verifier key use `disgorge key export-public`",
        )
    with catalog(home) as cat:
        data = export_home_secrets(cat.home)
    if sys.stdout.isatty():
        err.print("warning: private keys printed to a terminal; redirect to a file kept private")
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@key_app.command("import")
def key_import(
    file: Annotated[Path, typer.Argument(help="A file written by `disgorge key export --secret`.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Install another home's keys here, so both homes work with one catalog (checked against the
    pseudonym key fingerprint the catalog records; existing different keys are never overwritten)."""
    from disgorge.settings import Home, import_home_secrets, recorded_key_fingerprint

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"secrets file {file}: cannot read it ({exc.strerror})") from exc
    h = Home.resolve(home)
    h.path.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = import_home_secrets(h, data, origin=str(file), expected_fingerprint=recorded_key_fingerprint(h))
    with catalog(home) as cat:
        fingerprint = (cat.store.settings.get("pseudonym_key") or {}).get("fingerprint", "")
    if json:
        emit_json({"home": str(h.path), "written": written, "pseudonym_key": fingerprint})
    else:
        out.print(f"keys installed in {h.path / 'keys'}: {', '.join(written) or 'already present'}")


@key_app.command("rotate")
def key_rotate(home: HomeOpt = None, json: JsonOpt = False) -> None:
    """Replace the signing key; the old public key stays trusted for what it signed."""
    from disgorge.ledger.keys import public_key_text, rotate

    with catalog(home) as cat:
        ident = cat.proofs.identity
        new = rotate(ident.keys_dir / "keyring.json", ident.keys_dir, ident.name)
    text = public_key_text(ident.name, new)
    if json:
        emit_json({"key": text})
    else:
        out.print(f"new signing key: {text}")
