"""The questions and records of the command line through a server, beyond datasets, impact and runs:
``check`` (``--at``, ``--runs``), ``coverage``, ``consent import``, ``model deploy``, ``lookup``,
``token list/create/revoke``, ``job list/show/cancel``, the ledger's checkpoints and proofs and its
audit (``ledger verify``, run here on what the server stores), and the erasure workflow. Each answer
is rebuilt as the local facade's result type, so a command prints the same; each statement is signed
here with the person's identity (``DISGORGE_IDENTITY``), as the local command signs it, and the server
verifies and records it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from disgorge.errors import InputError, PolicyDenied, UsageError

if TYPE_CHECKING:
    from disgorge.catalog.erasure import PlanInfo
    from disgorge.catalog.tokens import TokenRow
    from disgorge.enforcement import CheckReport, RunReview
    from disgorge.erasure.execute import ExecutionReport
    from disgorge.erasure.verify import VerificationReport
    from disgorge.model.roles import Principal
    from disgorge.scan import LookupResult
    from disgorge.trust import Identity

URL_ENV = "DISGORGE_URL"


def not_served(what: str, instead: str | None = None) -> UsageError:
    local = f"unset {URL_ENV} to run it against a local home"
    return UsageError(f"{what} is not served by the API", hint=f"{local}, or {instead}" if instead else local)


def unserved(command: str | None, name: str) -> UsageError:
    """The error for a command whose part ``name`` the API does not serve: one line naming it."""
    what = f"`{command}`" if command else "this command"
    return UsageError(
        f"{what} does not work through a server yet ({name} is not served by the API)",
        hint=f"unset {URL_ENV} to run it against a local home",
    )


class Transport(Protocol):
    def _call(self, method: str, path: str, **kwargs: Any) -> Any: ...

    @property
    def principal(self) -> Principal: ...


def _q(ref: str) -> str:
    return quote(ref, safe="")


def pages(t: Transport, path: str, *, limit: int = 1000, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a paginated list, page by page."""
    cursor: str | None = None
    while True:
        page = t._call(
            "GET", path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        )
        yield from page["items"]
        cursor = page.get("next")
        if not cursor:
            return


def sign_as(
    t: Transport, identity: Identity | None, tpl: dict[str, Any], kind: str, body: dict[str, Any]
) -> dict[str, Any]:
    """``tpl`` (a server's statement template) signed here as ``kind`` with ``body``, by the person the
    token acts as; refused unless their identity is the one loaded."""
    from disgorge.trust import sign

    p = t.principal
    if identity is None or p.key != identity.public_key:
        raise PolicyDenied(
            "this step is a statement signed with your identity, and none on the roster is loaded",
            hint="set DISGORGE_IDENTITY to your identity file",
        )
    return sign(identity, kind, catalog=tpl["catalog"], about=tpl["about"], body=body).to_json()


class RecordsClient:
    """``check``, ``coverage``, ``consent import``, ``model deploy``, ``lookup``, tokens and jobs (a
    mixin of :class:`~disgorge.client.RemoteCatalog`)."""

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def check(
        self,
        datasets: list[str],
        *,
        use: str,
        recipient: str,
        at: datetime | None = None,
        record: bool = True,
    ) -> CheckReport:
        """The server's decision (recorded there), as the local :class:`CheckReport`: its counts and
        violations are the server's; member ids are not sent, so ``allowed``/``denied`` hold placeholders
        of the right size."""
        if not record:
            raise not_served("a check that is not recorded (record=False)")
        from pyroaring import BitMap

        from disgorge.enforcement import CheckReport
        from disgorge.enforcement.check import Violation

        body = {"datasets": list(datasets), "use": use, "recipient": recipient}
        d = self._call("POST", "/check", json={**body, **({"at": at.isoformat()} if at else {})})
        return CheckReport(
            use=d["use"],
            recipient=d["recipient"],
            at=datetime.fromisoformat(d["at"]),
            policy_version=d["policy_version"],
            inputs=list(d["inputs"]),
            inputs_digest=d["inputs_digest"],
            total=d["total"],
            allowed=BitMap(range(d["allowed"])),
            denied=BitMap(range(d["allowed"], d["allowed"] + d["denied"])),
            violations=[
                Violation(
                    v["reason"], v["rule"], v["would_be_allowed_by"], v["count"], list(v["sample_assets"])
                )
                for v in d["violations"]
            ],
            allowed_by=dict(d["allowed_by"]),
            decision_uid=d["decision"],
            flagged=dict(d["flagged_near_erased"]),
        )

    def review_runs(self, at: datetime | None = None) -> list[RunReview]:
        """``check --runs``: the server's re-evaluation of every recorded run, as the local
        :class:`RunReview` (its report's member sets hold placeholders of the right size, one
        violation per reason)."""
        from pyroaring import BitMap

        from disgorge.enforcement import CheckReport, RunReview
        from disgorge.enforcement.check import Violation

        out = []
        for d in self._call("GET", "/check/runs", params={"at": at.isoformat()} if at else {}):
            run, denied, total = d["run"], int(d["denied"]), int(d["total"])
            report = CheckReport(
                use=run.get("use", ""),
                recipient=run.get("party", ""),
                at=at or datetime.now().astimezone(),
                policy_version="",
                inputs=list(d["inputs"]),
                inputs_digest="",
                total=total,
                allowed=BitMap(range(total - denied)),
                denied=BitMap(range(total - denied, total)),
                violations=[Violation(r, "", "", n, []) for r, n in d["by_reason"].items()],
                allowed_by={},
            )
            out.append(RunReview(run, report, list(d["models"]), list(d["artifacts"])))
        return out

    def unknown_provenance_runs(self) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self._call("GET", "/check/unknown-provenance")
        return runs

    def coverage(self, *, since: datetime | None, until: datetime | None) -> dict[str, Any]:
        when = {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v is not None}
        report: dict[str, Any] = self._call("GET", "/coverage", params=when)
        return report

    @property
    def jobs(self) -> RemoteJobs:
        return RemoteJobs(self)  # type: ignore[arg-type]

    def import_consent(self, path: Path) -> tuple[int, bool]:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(f"consent file {path}: cannot read it ({exc})") from exc
        jsonl = Path(path).suffix.lower() in (".jsonl", ".ndjson", ".json")
        kind = "application/x-ndjson" if jsonl else "text/csv"
        r = self._call(
            "POST", "/consent", content=data, headers={"Content-Type": kind}, params={"origin": str(path)}
        )
        return int(r["imported"]), bool(r["new_file"])

    def deploy(self, model: str, *, target: str, hook: str | None = None) -> int:
        body = {"target": target, **({"hook": hook} if hook is not None else {})}
        from disgorge.client.runs import path_ref

        return int(self._call("POST", f"/models/{_q(path_ref(model))}/deployments", json=body)["id"])

    def lookup(self, photo: Path, *, radius: int = 31) -> LookupResult:
        from disgorge.scan import LookupResult

        if radius != 31:
            raise not_served("a lookup with another radius")
        try:
            data = Path(photo).read_bytes()
        except OSError as exc:
            raise InputError(f"photo {photo}: cannot read it ({exc.strerror})") from exc
        r = self._call(
            "POST",
            "/photos/lookup",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
            params={"photo": str(photo)},
        )
        return LookupResult(r["photo"], r["answered"], r["reason"], list(r["matches"]))

    def tokens(self) -> list[TokenRow]:
        return [_token(t) for t in self._call("GET", "/tokens")]

    def issue_token(
        self, name: str, *, principal: str | None = None, expires: str | None = None
    ) -> tuple[TokenRow, str]:
        body = {"name": name, "principal": principal, **({"expires": expires} if expires else {})}
        r = self._call("POST", "/tokens", json=body)
        return _token(r), str(r["token"])

    def revoke_token(self, token_id: str) -> TokenRow:
        return _token(self._call("POST", f"/tokens/{_q(token_id)}/revoke"))

    def unknown_subjects(self, kind: str, value: str) -> dict[str, int]:
        r = self._call("GET", "/impact", params={"kind": kind, "value": value})
        return dict(r.get("unknown_subject_by_source", {}))

    def certificate(self, plan: str, *, cosigner: Any = None) -> dict[str, Any]:
        if cosigner is not None:
            raise not_served("asking witnesses of your choice to cosign (--witness)")
        doc: dict[str, Any] = self._call("GET", f"/erasures/{_q(plan)}/certificate")
        return doc


def _token(t: dict[str, Any]) -> TokenRow:
    """A token as the server lists it (never its secret's hash)."""
    from disgorge.catalog.tokens import TokenRow

    def at(v: str | None) -> datetime | None:
        return datetime.fromisoformat(v) if v else None

    return TokenRow(
        t["id"],
        t["principal"],
        t["name"],
        "",
        t["created_by"],
        datetime.fromisoformat(t["created_at"]),
        at(t["expires_at"]),
        at(t["revoked_at"]),
    )


class RemoteJobs:
    """``disgorge job list/show/cancel`` through a server: each job as ``JobRow.to_json`` gives it."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def page(self, limit: int) -> list[dict[str, Any]]:
        from itertools import islice

        return list(islice(pages(self._t, "/jobs", limit=min(limit, 1000)), limit))

    def get(self, job_id: str) -> dict[str, Any]:
        row: dict[str, Any] = self._t._call("GET", f"/jobs/{_q(job_id)}")
        return row

    def cancel(self, job_id: str) -> dict[str, Any]:
        row: dict[str, Any] = self._t._call("POST", f"/jobs/{_q(job_id)}/cancel")
        return row


class RemoteProofs:
    """The ledger's checkpoints and inclusion proofs through a server (``cat.proofs``)."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def checkpoint(self, *, cosigner: Any = None) -> dict[str, Any]:
        if cosigner is not None:
            raise not_served("asking witnesses of your choice to cosign (--witness)")
        cp: dict[str, Any] = self._t._call("POST", "/ledger/checkpoints")
        return cp

    def prove(self, seq: int) -> dict[str, Any]:
        proof: dict[str, Any] = self._t._call("GET", "/ledger/proofs/inclusion", params={"index": seq})
        return proof

    def verify(self, earlier: str | None = None) -> dict[str, Any]:
        """``ledger verify`` done here: the server hands over its stored entries, leaf hashes,
        checkpoints and keys as they are, and the same audit as the local command's runs on them."""
        from disgorge.ledger.audit import audit_ledger

        keys = self._t._call("GET", "/ledger/keys")
        notes = [n["checkpoint"] for n in pages(self._t, "/ledger/checkpoints")]
        rows = (
            (e["index"], e["entry"], bytes.fromhex(e["leaf"]))
            for e in pages(self._t, "/ledger/entries", limit=10_000)
        )
        return audit_ledger(rows, notes, list(keys["keys"]), keys["origin"], earlier)

    def __getattr__(self, name: str) -> Any:
        raise unserved(getattr(self._t, "command", None), f"the ledger's {name}")


@dataclass(frozen=True, slots=True)
class Rule:
    required: int


@dataclass(frozen=True, slots=True)
class RemoteAuthorization:
    """What ``erase approve`` prints of a plan's authorisation, from the server's account of it."""

    plan_id: str
    approvers: list[str]
    rule: Rule
    complete: bool
    approvals: list[str] = field(default_factory=list)


class _Served:
    """An execution report as the server gave it: the local class's fields, and its JSON verbatim."""

    def __init__(self, report: ExecutionReport, doc: dict[str, Any]) -> None:
        self._report, self._doc = report, doc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._report, name)

    def to_json(self) -> dict[str, Any]:
        return self._doc


def _served(r: dict[str, Any]) -> ExecutionReport:
    """An execution report's JSON (``ExecutionReport.to_json``) as the report the CLI prints."""
    from disgorge.erasure.execute import ExecutionReport

    report = ExecutionReport(
        r["plan_id"],
        r["dry_run"],
        r["status"],
        dict(r["steps"]),
        dict(r["journal"]),
        list(r["would_do"]),
        list(r["problems"]),
        [],
        list(r["held"]),
        r["stale"],
        dict(r["authorization"]),
    )
    return _Served(report, r)  # type: ignore[return-value]


class RemoteErasures:
    """The erasure workflow through a server (``cat.erasures``): each statement is signed here with the
    person's own identity and sent with their own token; the server verifies and records it."""

    def __init__(self, transport: Transport, identity: Identity | None) -> None:
        self._t = transport
        self._identity = identity

    def _signed(self, plan: str, template: str, kind: str | None = None, **params: Any) -> dict[str, Any]:
        """The server's ``template`` statement about ``plan``, signed here as ``kind`` (default: the
        template's own kind; an execution's start has an approval's body, the roster's digest)."""
        tpl = self._t._call("GET", f"/erasures/{_q(plan)}/statement", params={"kind": template, **params})
        return self._sign_as(tpl, kind or template, tpl["body"])

    def _sign_as(self, tpl: dict[str, Any], kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return sign_as(self._t, self._identity, tpl, kind, body)

    def __getattr__(self, name: str) -> Any:
        raise unserved(getattr(self._t, "command", None), f"the erasures' {name}")

    def show(self, ref: str) -> dict[str, Any]:
        doc: dict[str, Any] = self._t._call("GET", f"/erasures/{_q(ref)}")
        return doc

    def reachability(self, ref: str) -> dict[str, Any]:
        return dict(self.show(ref)["unreachable"])

    def plan(
        self,
        *,
        scope: tuple[str, str] | None,
        withdrawn: bool,
        reason: str,
        legal_basis: str,
        deadline: str | None,
        supplement: str | None,
        retrain: list[str],
    ) -> tuple[PlanInfo, bool]:
        """Freeze a plan on the server and sign its request here."""
        from disgorge.catalog.erasure import PlanInfo

        body: dict[str, Any] = {
            "withdrawn": withdrawn,
            "reason": reason,
            "legal_basis": legal_basis,
            "deadline": deadline,
            "supplement": supplement,
            "retrain": list(retrain),
            **({"scope": scope[0], "value": scope[1]} if scope else {}),
        }
        draft = self._t._call("POST", "/erasures", json=body)
        pid = draft["plan"]["plan_id"]
        doc = self.show(pid)
        if doc["requester"] is None:
            doc = self._t._call("POST", f"/erasures/{pid}/request", json=self._signed(pid, "erasure.request"))
        plan = PlanInfo(
            doc["plan_id"],
            doc["scope"],
            doc["reason"],
            doc["legal_basis"],
            doc["deadline"],
            doc["requester"] or "",
            doc["status"],
            doc["counts"],
            doc["survives"],
        )
        return plan, bool(draft["created"])

    def approve(self, ref: str) -> RemoteAuthorization:
        pid = self.show(ref)["plan_id"]
        doc = self._t._call("POST", f"/erasures/{pid}/approvals", json=self._signed(pid, "erasure.approve"))
        auth = doc["authorization"]
        return RemoteAuthorization(
            pid, list(auth["approvers"]), Rule(auth["required"]), auth["complete"], list(auth["approvers"])
        )

    def resolve(self, ref: str, seq: int, reason: str) -> dict[str, Any]:
        pid = self.show(ref)["plan_id"]
        signed = self._signed(pid, "erasure.resolve", target=seq, reason=reason)
        result: dict[str, Any] = self._t._call("POST", f"/erasures/{pid}/resolutions", json=signed)
        return result

    def run(self, ref: str, *, dry_run: bool = True, trust_metadata: bool = False) -> ExecutionReport:
        """Dry-run on the server (``GET /erasures/{plan}/dry-run``), or execute there, as a job started
        by the execution statement signed here, and sign its end (the journal the job reports) as the
        local command does."""
        if dry_run:
            return _served(self._t._call("GET", f"/erasures/{_q(ref)}/dry-run"))
        pid = self.show(ref)["plan_id"]
        start = self._signed(pid, "erasure.approve", kind="erasure.execute")
        job = self._t._call(
            "POST", f"/erasures/{pid}/run", json={"statement": start, "trust_metadata": trust_metadata}
        )
        r = wait_for(self._t, job)
        end = r.pop("executed_statement")
        tpl = start["statement"]
        body = {**end["body"], "roster": tpl["body"]["roster"]}
        self._t._call("POST", f"/erasures/{pid}/executed", json=self._sign_as(tpl, "erasure.executed", body))
        return _served(r)

    def verify(self, ref: str, roots: list[str] | None = None) -> VerificationReport:
        """Verify on the server, as a job (``POST /erasures/{plan}/verify``), and wait for its report;
        roots that exist here are sent as absolute paths (the server scans them as it sees them)."""
        from disgorge.erasure.verify import VerificationReport

        pid = self.show(ref)["plan_id"]
        given = [str(Path(r).absolute()) if "://" not in r and Path(r).exists() else r for r in roots or []]
        job = self._t._call("POST", f"/erasures/{pid}/verify", json={"roots": given})
        r = wait_for(self._t, job)
        return VerificationReport(
            r["plan_id"],
            r["at"],
            dict(r["checked"]),
            list(r["remaining"]),
            list(r["residual"]),
            int(r["scanned"]),
            int((r.get("coverage") or {}).get("bytes", 0)),
            list(r["roots"]),
            int((r.get("coverage") or {}).get("radius", 31)),
            list(r["unscanned_residue_roots"]),
        )


def wait_for(t: Transport, job: dict[str, Any], *, timeout: float = 3600.0) -> dict[str, Any]:
    """A job's result once it is done; its error, as the same error class, if it failed."""
    import time

    from disgorge.errors import StoreError, from_json

    deadline, pause = time.monotonic() + timeout, 0.05
    while job["status"] in ("queued", "running"):
        if time.monotonic() > deadline:
            raise StoreError(
                f"job {job['id']} did not finish in {timeout:.0f} s", hint="see GET /api/v1/jobs/ID"
            )
        time.sleep(pause)
        pause = min(pause * 2, 2.0)
        job = t._call("GET", f"/jobs/{_q(job['id'])}")
    if job["status"] != "done":
        err = job.get("error") or {
            "error": "disgorge.store",
            "message": f"job {job['id']} was {job['status']}",
        }
        raise from_json(err, 400)
    result: dict[str, Any] = job["result"]
    return result
