"""The catalog through a server: ``disgorge.open(url=…)``, or the CLI with ``DISGORGE_URL`` set.

:class:`RemoteCatalog` answers the questions the facade answers, with the same result types, so a
command renders a server's answer exactly as it renders a local one, and exits with the same status (the
server's JSON error becomes the same ``DisgorgeError`` class). What is not yet served through the API
is refused with a usage error that says so, never half-done."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from disgorge.client.admin import AdminClient
from disgorge.client.runs import RemoteRun, input_ref, path_ref, run_info
from disgorge.client.services import RecordsClient, RemoteErasures, RemoteProofs, pages, unserved
from disgorge.errors import StoreError, UsageError, from_json
from disgorge.model.roles import Principal

if TYPE_CHECKING:
    import httpx

    from disgorge.catalog import DatasetInfo, SourceInfo
    from disgorge.lineage import BillOfMaterials, Impact
    from disgorge.trust import Identity

URL_ENV, TOKEN_ENV = "DISGORGE_URL", "DISGORGE_TOKEN"


class RemoteCatalog(RecordsClient, AdminClient):
    """A server's catalog, acting as the token's principal; statements (an erasure's request, approval,
    resolution) are signed here with ``identity`` (default ``$DISGORGE_IDENTITY``)."""

    remote = True

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        identity: Identity | None = None,
        timeout: float = 60.0,
        command: str | None = None,
    ) -> None:
        import httpx

        token = token if token is not None else os.environ.get(TOKEN_ENV)
        if not token:
            raise UsageError(
                f"{URL_ENV} is set ({url}) but no API token is",
                hint=f"set {TOKEN_ENV} to a token from `disgorge token create`, or unset {URL_ENV}",
            )
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"server URL {url!r} is not http(s)", hint="e.g. http://127.0.0.1:8470")
        self.url = url.rstrip("/")
        self._http: httpx.Client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )
        self._principal: Principal | None = None
        self._identity = identity
        self.command = command
        """The command line being served (``disgorge principal list``), named when it is refused."""

    def __enter__(self) -> RemoteCatalog:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            r = self._http.request(method, f"/api/v1{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise StoreError(
                f"the server at {self.url} could not be reached: {type(exc).__name__}",
                hint=f"check {URL_ENV} and that `disgorge serve` runs there",
            ) from None
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code >= 400:
            raise from_json(body, r.status_code)
        return body

    @property
    def principal(self) -> Principal:
        if self._principal is None:
            me = self._call("GET", "/whoami")
            self._principal = Principal(me["name"], frozenset(me["roles"]), me.get("key"))
        return self._principal

    @property
    def identity(self) -> Identity | None:
        """Who signs this client's statements: the identity given, else ``$DISGORGE_IDENTITY``'s."""
        if self._identity is None:
            from disgorge.trust import load_default

            self._identity = load_default()
        return self._identity

    @property
    def erasures(self) -> RemoteErasures:
        return RemoteErasures(self, self.identity)

    @property
    def proofs(self) -> RemoteProofs:
        return RemoteProofs(self)

    def _pages(self, path: str) -> list[dict[str, Any]]:
        return list(pages(self, path))

    def sources(self) -> list[SourceInfo]:
        return [_source(s) for s in self._pages("/sources")]

    def add_source(
        self,
        name: str,
        *,
        notice: Path | bytes,
        uses: Sequence[str],
        recipients: Sequence[str] = (),
        categories: Sequence[str] = (),
        controller: str | None = None,
        legal_basis: str | None = None,
        effective_from: datetime | None = None,
    ) -> tuple[SourceInfo, bool]:
        """Register a source (or a new notice version) on the server; the notice is sent as its text."""
        from disgorge.errors import InputError

        if effective_from is not None:
            raise UsageError("a notice effective from another time is not served by the API")
        label = "(bytes)" if isinstance(notice, bytes) else str(notice)
        try:
            text = notice if isinstance(notice, bytes) else Path(notice).read_bytes()
        except OSError as exc:
            raise InputError(
                f"notice {label}: cannot read it ({exc.strerror})", hint="give the notice's text file"
            ) from exc
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"notice {label}: not UTF-8 text, which the API carries") from exc
        body = {
            "name": name,
            "notice": decoded,
            "uses": list(uses),
            "recipients": list(recipients),
            "categories": list(categories),
            "controller": controller,
            "legal_basis": legal_basis,
        }
        r = self._call("POST", "/sources", json=body)
        return _source(r), bool(r["changed"])

    def create_dataset(
        self,
        name: str,
        *,
        source: str | None = None,
        from_dataset: str | None = None,
        where: str | None = None,
        manifest: Path | None = None,
        entries: Sequence[str] | None = None,
    ) -> tuple[DatasetInfo, bool]:
        """A dataset version on the server; a manifest file is read here and its paths sent as URIs."""
        from disgorge.errors import InputError

        if sum(x is not None for x in (source, from_dataset, manifest, entries)) != 1:
            raise UsageError("give exactly one of --source, --from or --manifest")
        if where is not None and from_dataset is None and source is None:
            raise UsageError("--where filters --from or --source members")
        if manifest is not None:
            try:
                lines = manifest.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"manifest {manifest}: cannot read it ({exc})") from exc
            heads = [ln.split(",")[0].strip() for ln in lines]
            entries = [h for h in heads if h and h not in ("sha256", "path") and not h.startswith("#")]
        if entries is not None:
            entries = [_entry(e) for e in entries]
        body = {"name": name, "source": source, "from": from_dataset, "where": where, "manifest": entries}
        r = self._call("POST", "/datasets", json=body)
        return _dataset(r), bool(r["created"])

    def datasets(self) -> list[DatasetInfo]:
        return [_dataset(d) for d in self._pages("/datasets")]

    def dataset(self, ref: str) -> DatasetInfo:
        from urllib.parse import quote

        return _dataset(self._call("GET", f"/datasets/{quote(ref, safe='@')}"))

    def impact(self, kind: str, value: str) -> Impact:
        from disgorge.lineage.impact import impact_from_json

        return impact_from_json(self._call("GET", "/impact", params={"kind": kind, "value": value}))

    def lineage(self, model: str) -> BillOfMaterials:
        from urllib.parse import quote

        from disgorge.lineage.bom import bom_from_json

        return bom_from_json(self._call("GET", f"/models/{quote(path_ref(model), safe='')}/lineage"))

    def run(
        self,
        name: str,
        *,
        use: str,
        party: str,
        inputs: Sequence[str] = (),
        code_version: str | None = None,
        enforce: bool = True,
        compliant_subset: bool = False,
        at: datetime | None = None,
    ) -> RemoteRun:
        """Open a run behind the server's gate: refused (the same ``PolicyDenied``) as ``Catalog.run``
        refuses it, before any byte is read; ``enforce=False`` records a run that already happened."""
        if at is not None:
            raise UsageError(
                "a run decided as of another time (at=) is not served by the API",
                hint=f"leave out at=, or unset {URL_ENV} to run against a local home",
            )
        body = {
            "name": name,
            "use": use,
            "party": party,
            "inputs": [input_ref(i) for i in inputs],
            "code_version": code_version,
            "enforce": enforce,
            "compliant_subset": compliant_subset,
        }
        r = self._call("POST", "/runs", json=body)
        return RemoteRun(self, run_info(r), r.get("decision"))

    def resume_run(self, ref: str) -> RemoteRun:
        """A run opened elsewhere (``run start`` or a job), to add inputs and outputs to."""
        from urllib.parse import quote

        info = run_info(self._call("GET", f"/runs/{quote(ref, safe='')}"))
        if info.status != "running":
            raise UsageError(f"run {ref!r} is {info.status}: inputs and outputs go to a running run")
        return RemoteRun(self, info)

    def ingest(self, path: object, opts: object, **_: object) -> Any:
        raise UsageError(
            f"ingest hashes files on this machine and registers them in a local catalog; {URL_ENV} is set",
            hint=f"unset {URL_ENV} and run it where the catalog is, or send hashed records to "
            "POST /api/v1/assets/records",
        )

    def scan(self, roots: object, **_: object) -> Any:
        raise UsageError(
            f"scan reads files on this machine against the catalog's local indexes; {URL_ENV} is set",
            hint=f"unset {URL_ENV} and run it where the catalog is, or look up one photo: disgorge lookup PHOTO",
        )

    def __getattr__(self, name: str) -> Any:
        raise unserved(self.command, name)


__all__ = ["RemoteCatalog", "RemoteRun"]


def _source(s: dict[str, Any]) -> SourceInfo:
    from disgorge.catalog import SourceInfo

    return SourceInfo(
        s["id"],
        s["name"],
        s["controller"],
        s["legal_basis"],
        tuple(s["categories"]),
        s["notice_id"],
        s["notice_version"],
        s["notice_sha256"],
        tuple(s["uses"]),
        tuple(s["recipients"]),
    )


def _entry(text: str) -> str:
    """A manifest line as the server can resolve it: a sha256 or URI as given, a path as its URI."""
    t = text.strip()
    if (len(t) == 64 and all(c in "0123456789abcdef" for c in t.lower())) or "://" in t:
        return t
    return Path(t).resolve().as_uri()


def _dataset(d: dict[str, Any]) -> DatasetInfo:
    from disgorge.catalog import DatasetInfo

    return DatasetInfo(
        d["id"],
        d["name"],
        d["version"],
        d["digest"],
        d["member_count"],
        d["derived_from"],
        d["query"],
        dict(d["stats"]),
        d["state"],
    )
