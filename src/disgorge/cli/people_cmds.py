"""Commands about people: your identity, and the catalog's roster of principals and their roles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from disgorge.cli.app import HomeOpt, JsonOpt, app, catalog
from disgorge.cli.output import emit_json, out

identity_app = typer.Typer(
    help="Your own identity: an Ed25519 key outside any shared home.", no_args_is_help=True
)
principal_app = typer.Typer(
    help="The catalog's roster: principals, their keys and roles.", no_args_is_help=True
)
app.add_typer(identity_app, name="identity")
app.add_typer(principal_app, name="principal")

FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file", help="Identity file (default $DISGORGE_IDENTITY, else ~/.config/disgorge/identity)."
    ),
]
RoleOpt = Annotated[
    list[str],
    typer.Option(
        "--role", help="admin, engineer, requester, approver or auditor (repeat or comma-separate)."
    ),
]


def _roles(values: list[str]) -> list[str]:
    return sorted({r.strip() for v in values for r in v.split(",") if r.strip()})


@identity_app.command("init")
def identity_init(
    name: Annotated[
        str, typer.Argument(help="Your name on rosters (normalised: NFKC, lower case, one script).")
    ],
    file: FileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Create your identity (mode 0600) and print its public key, which an admin adds to a roster."""
    from disgorge.trust import Identity, default_path

    path = file or default_path()
    ident = Identity.generate(name)
    ident.save(path)
    if json:
        emit_json({"name": ident.name, "key": ident.public_key, "file": str(path)})
    else:
        out.print(f"identity {ident.name} written to {path}", markup=False)
        print(ident.public_key)


@identity_app.command("show")
def identity_show(file: FileOpt = None, json: JsonOpt = False) -> None:
    """Print your identity's name and public key (never the private key)."""
    from disgorge.trust import Identity, default_path

    path = file or default_path()
    ident = Identity.load(path)
    if json:
        emit_json({"name": ident.name, "key": ident.public_key, "file": str(path)})
    else:
        print(ident.public_key)


@app.command()
def init(home: HomeOpt = None, json: JsonOpt = False) -> None:
    """Create a Disgorge home (catalog and pseudonym key, mode 0600) and, if the catalog has no roster yet,
    make your identity its first admin."""
    with catalog(home) as cat:
        claimed = cat.init()
        info = {
            "home": str(cat.home.path),
            "catalog": cat.store.engine.url.render_as_string(),
            "key": str(cat.home.key_path),
            **claimed,
        }
    if json:
        emit_json(info)
        return
    out.print(f"Disgorge home ready at [bold]{info['home']}[/] (catalog {info['catalog']})")
    if claimed["admin_claimed"]:
        out.print(f"{claimed['principal']} is the catalog's first admin", markup=False)
    elif not claimed["principal"] or claimed["principal"].startswith("local:"):
        out.print(
            "no identity: the catalog is unmanaged (no roster). To sign erasures, create an identity "
            "(disgorge identity init NAME) and run disgorge init again",
            markup=False,
        )


@principal_app.command("add")
def principal_add(
    name: Annotated[str, typer.Argument(help="The person's name (as in their identity).")],
    key: Annotated[str, typer.Option(help="Their public key, as `disgorge identity show` prints it.")],
    role: RoleOpt,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Add a principal (admins only): a roster statement signed with your key."""
    with catalog(home) as cat:
        member = cat.change_roster("roster.add", name, key=key.strip(), roles=_roles(role))
    _show(member, json, "added")


@principal_app.command("set-roles")
def principal_set_roles(
    name: Annotated[str, typer.Argument(help="The principal.")],
    role: RoleOpt,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Replace a principal's roles (admins only; signed)."""
    with catalog(home) as cat:
        member = cat.change_roster("roster.update", name, roles=_roles(role))
    _show(member, json, "updated")


@principal_app.command("revoke")
def principal_revoke(
    name: Annotated[str, typer.Argument(help="The principal.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Revoke a principal (admins only; signed): what they signed before stays valid, nothing after."""
    with catalog(home) as cat:
        member = cat.change_roster("roster.revoke", name)
    _show(member, json, "revoked")


@principal_app.command("list")
def principal_list(home: HomeOpt = None, json: JsonOpt = False) -> None:
    """The roster, folded from its signed statements."""
    with catalog(home) as cat:
        members = cat.principals()
    if json:
        emit_json(members)
        return
    t = Table("name", "roles", "key", "added by", "state")
    for m in members:
        t.add_row(
            m["name"],
            ", ".join(m["roles"]),
            m["key"],
            m["added_by"],
            "revoked" if m["revoked_at"] else "active",
        )
    out.print(t)


def _show(member: dict[str, object], json: bool, verb: str) -> None:
    if json:
        emit_json(member)
    else:
        roles = ", ".join(member["roles"])  # type: ignore[arg-type]
        out.print(f"principal {member['name']} {verb} (roles {roles})", markup=False)
