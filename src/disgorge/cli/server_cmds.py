"""``disgorge serve`` (the team server) and ``disgorge token`` (its API tokens).

FastAPI and uvicorn are imported inside ``serve`` so that every other command starts without them.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from disgorge.cli.app import HomeOpt, JsonOpt, app, catalog
from disgorge.cli.net import check_port, is_loopback, listen, shown
from disgorge.cli.output import emit_json, err, out
from disgorge.errors import UsageError

token_app = typer.Typer(help="API tokens for the server (shown once, stored hashed).", no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.command("serve")
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback unless TLS or --insecure).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")] = 8470,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate chain: serve HTTPS.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Allow a non-loopback address over plain HTTP (behind a proxy)."),
    ] = False,
    jobs: Annotated[
        str | None,
        typer.Option(
            "--jobs",
            envvar="DISGORGE_JOBS",
            help="Job queue: redis://HOST:6379/0 (default: the catalog's database).",
        ),
    ] = None,
    job_workers: Annotated[
        int,
        typer.Option(
            "--job-workers",
            envvar="DISGORGE_JOB_WORKERS",
            help="Job worker threads in this process (0: only disgorge worker runs jobs).",
        ),
    ] = 1,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            envvar="DISGORGE_SERVE_WORKERS",
            help="Server processes (one answers on one core at most; 2 on a 2-core machine).",
        ),
    ] = 1,
    home: HomeOpt = None,
) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /openapi.json) over this home's catalog until stopped.

    Requests authenticate with API tokens (disgorge token create). One JSON line per request goes to
    stderr; /healthz and /metrics (Prometheus) are for operations. Jobs (ingest, erasure execution and
    verification) run on --job-workers threads here, or on disgorge worker processes with --job-workers 0.
    SIGTERM or Ctrl-C stops gracefully."""
    check_port(port)
    if not 0 <= job_workers <= 64:
        raise UsageError(f"--job-workers {job_workers} is out of range", hint="0 to 64")
    if not 1 <= workers <= 64:
        raise UsageError(f"--workers {workers} is out of range", hint="1 to 64, e.g. the machine's cores")
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together", hint="pass both, or neither")
    for given in (tls_cert, tls_key):
        if given is not None and not given.is_file():
            raise UsageError(f"{given} is not a file", hint="pass the PEM files of the server's certificate")
    if not is_loopback(host) and tls_cert is None and not insecure:
        raise UsageError(
            f"refusing to listen on {host}, which is not a loopback address, without TLS",
            hint="pass --tls-cert and --tls-key, or --insecure behind a TLS-terminating proxy",
        )
    import uvicorn

    from disgorge.api import open as open_catalog
    from disgorge.server import create_app
    from disgorge.server.ops import log_to_stderr

    log_to_stderr()
    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        "ssl_certfile": str(tls_cert) if tls_cert else None,
        "ssl_keyfile": str(tls_key) if tls_key else None,
    }
    with open_catalog(home, identity=False) as cat:  # opened here too: a bad home fails before any worker
        where, url = cat.home.path, cat.home.catalog_url
        scheme = "https" if tls_cert else "http"
        sock = listen(host, port)
        try:
            many = f" with {workers} workers" if workers > 1 else ""
            err.print(f"disgorge serving {where} on {shown(host, port, scheme)}{many}", markup=False)
            if workers > 1:
                from disgorge.server.workers import run

                cat.close()
                run(
                    options,
                    sock,
                    home=where,
                    catalog_url=url,
                    jobs=jobs,
                    job_workers=job_workers,
                    workers=workers,
                )
                return
            config = uvicorn.Config(
                create_app(cat, jobs_url=jobs, job_workers=job_workers, freeze=True), **options
            )
            # uvicorn re-raises the signal it stopped on once it has drained: a SIGTERM that ended a
            # graceful shutdown is a normal exit, not a death by signal.
            previous = signal.signal(signal.SIGTERM, lambda *_: None)
            try:
                uvicorn.Server(config).run(sockets=[sock])
            finally:
                signal.signal(signal.SIGTERM, previous)
        finally:
            sock.close()


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. laptop or ci.")],
    expires: Annotated[
        str, typer.Option("--expires", help="30d, 12h, 2w, a date (2027-01-31) or never.")
    ] = "90d",
    principal: Annotated[
        str | None, typer.Option("--for", help="Another roster member (admins only; default: you).")
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Issue an API token acting as you (or, for an admin, another member); it is shown only now."""
    with catalog(home) as cat:
        row, secret = cat.issue_token(name, principal=principal, expires=expires)
    if json:
        emit_json({**row.to_json(), "token": secret})
        return
    until = row.expires_at.date().isoformat() if row.expires_at else "never expires"
    err.print(f"token {row.id} for {row.principal} ({row.name}; {until}); it is shown once:", markup=False)
    print(secret)


@token_app.command("list")
def token_list(home: HomeOpt = None, json: JsonOpt = False) -> None:
    """Your tokens (an admin sees everyone's); secrets are never shown again."""
    with catalog(home) as cat:
        rows = cat.tokens()
    if json:
        emit_json([r.to_json() for r in rows])
        return
    t = Table("id", "principal", "name", "expires", "state")
    for r in rows:
        state = "revoked" if r.revoked_at else "active"
        t.add_row(r.id, r.principal, r.name, r.expires_at.isoformat() if r.expires_at else "never", state)
    out.print(t)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (disgorge token list).")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Revoke a token: servers refuse it within seconds."""
    with catalog(home) as cat:
        row = cat.revoke_token(token_id)
    if json:
        emit_json(row.to_json())
    else:
        out.print(f"token {row.id} of {row.principal} revoked", markup=False)
