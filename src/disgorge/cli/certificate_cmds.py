"""``disgorge certificate verify``: the auditor's command. It needs no catalog and no home."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from disgorge.cli.app import JsonOpt, certificate_app
from disgorge.cli.output import emit_json, out
from disgorge.errors import InputError


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot read it ({exc.strerror})") from exc


@certificate_app.command("verify")
def certificate_verify(
    certificate: Annotated[Path, typer.Argument(help="The certificate JSON.")],
    key: Annotated[Path, typer.Option(help="Trusted public key(s): a verifier key per line, or a keyring.")],
    asset_proof: Annotated[
        Path | None, typer.Option(help="A proof that one asset is in the erased set.")
    ] = None,
    witness_key: Annotated[
        list[Path] | None,
        typer.Option(help="A witness's verifier key file: require its cosignature on the checkpoint."),
    ] = None,
    require_scan: Annotated[
        bool,
        typer.Option("--require-scan", help="Fail a certificate whose verification ran no residual scan."),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Check offline: the certificate's signature, the checkpoint (and witness cosignatures), every
    inclusion proof, the people's signed statements against the roster as of each signature, and the
    story's consistency; exit 1 with the reason on any failure."""
    from disgorge.certificate import verify_any
    from disgorge.ledger.certificate import verify_asset_proof
    from disgorge.ledger.keys import trusted_keys_from_text

    trusted = trusted_keys_from_text(_read(key, "key file").decode("utf-8", "replace"))
    witnesses = [
        line.strip()
        for w in witness_key or []
        for line in _read(w, "witness key file").decode("utf-8", "replace").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    doc = _read(certificate, "certificate")
    check = verify_any(doc, trusted, witness_keys=witnesses, require_scan=require_scan)
    result = check.to_json()
    if asset_proof is not None:
        import json as jsonlib

        from disgorge.ledger.certificate import load_certificate

        verify_asset_proof(load_certificate(doc), _read(asset_proof, "asset proof"))
        result["asset_proof"] = jsonlib.loads(_read(asset_proof, "asset proof")).get("keyed_hash", "verified")
    if json:
        emit_json(result)
    else:
        out.print(f"[green]valid[/]: certificate of plan {check.plan_id[:16]}… signed by {check.signed_by}")
        for c in check.checks:
            out.print(f"  ✓ {c}")
        if asset_proof is not None:
            out.print("  ✓ the asset in the proof is in the erased set")
