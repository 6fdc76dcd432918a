"""Commands for running a witness: ``witness init`` and ``witness serve``.

FastAPI and uvicorn are imported inside ``serve`` so that every other command starts without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from disgorge.cli.app import JsonOpt, witness_app
from disgorge.cli.net import check_port, is_loopback, listen, shown
from disgorge.cli.output import emit_json, err
from disgorge.errors import UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from disgorge.witness.core import LogConfig

KeyOpt = Annotated[Path, typer.Option("--key", help="The witness's private key file (PKCS8 PEM, mode 0600).")]


@witness_app.command("init")
def witness_init(
    name: Annotated[
        str, typer.Argument(help="The witness's name, e.g. witness.example.org/w1 (no spaces or '+').")
    ],
    key: KeyOpt,
    json: JsonOpt = False,
) -> None:
    """Create a witness key (mode 0600) and print its verifier key, the one its users trust.

    The verifier key (type 0x04, C2SP tlog-cosignature) is also written beside the key, as KEY.vkey.
    """
    from disgorge.witness.config import create_witness_key, vkey_path

    vkey = create_witness_key(key, name)
    if json:
        emit_json({"name": name, "key": str(key), "vkey": vkey, "vkey_file": str(vkey_path(key))})
        return
    err.print(f"wrote {key} (mode 0600) and {vkey_path(key)}; give this verifier key to the witness's users:")
    print(vkey)


@witness_app.command("serve")
def witness_serve(
    key: KeyOpt,
    log: Annotated[
        list[str] | None,
        typer.Option(
            "--log", help="A log to witness, ORIGIN=VKEY (its checkpoints' origin line and verifier key)."
        ),
    ] = None,
    logs: Annotated[
        Path | None, typer.Option("--logs", help="A file of ORIGIN=VKEY lines (# comments).")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="The witness's memory, a SQLite file (default KEY.state.db)."),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback unless --insecure).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")] = 8471,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a non-loopback address, served as plain HTTP.")
    ] = False,
) -> None:
    """Serve C2SP tlog-witness add-checkpoint over plain HTTP until interrupted.

    The witness cosigns a log's checkpoint only when a consistency proof shows it extends the last one
    it cosigned for that log, and remembers that one in --state before answering. It speaks plain HTTP:
    TLS termination (a reverse proxy) is out of scope, so it listens on loopback unless --insecure.
    """
    from disgorge.witness.config import load_witness_key, parse_log, read_logs_file

    configured = [parse_log(spec) for spec in log or []]
    if logs is not None:
        configured += read_logs_file(logs)
    if not configured:
        raise UsageError("no log to witness", hint="pass --log ORIGIN=VKEY (repeatable) or --logs FILE")
    check_port(port)
    if not is_loopback(host) and not insecure:
        raise UsageError(
            f"refusing to listen on {host}, which is not a loopback address, over plain HTTP",
            hint="put a TLS-terminating proxy in front and pass --insecure, or listen on 127.0.0.1",
        )
    name, private_key = load_witness_key(key)
    state_path = state or key.with_name(key.name + ".state.db")
    _serve(name, private_key, configured, state_path, host, port)


def _serve(
    name: str, private_key: Ed25519PrivateKey, logs: list[LogConfig], state_path: Path, host: str, port: int
) -> None:
    import uvicorn

    from disgorge.ledger.cosignature import cosigner_vkey
    from disgorge.witness.core import Witness
    from disgorge.witness.server import create_app
    from disgorge.witness.state import WitnessState

    with WitnessState(state_path, cosigner_vkey(name, private_key.public_key())) as memory:
        witness = Witness(name, private_key, logs, memory)
        config = uvicorn.Config(
            create_app(witness), log_level="warning", access_log=False, server_header=False, lifespan="off"
        )
        sock = listen(host, port)
        try:
            err.print(
                f"witness {name} on {shown(host, port)} for {len(witness.logs)} log(s); state {state_path}\n"
                f"  verifier key: {witness.vkey}",
                markup=False,
                soft_wrap=True,
            )
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            sock.close()
