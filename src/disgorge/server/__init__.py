"""``disgorge serve``: the REST API (and, beside it, the dashboard) over the same services as the CLI.

The server holds one catalog and acts, per request, for the principal its bearer token names; it
never signs a statement for anyone (clients sign with their own keys and the server checks)."""

from disgorge.server.app import create_app

__all__ = ["create_app"]
