"""The commands an admin or a privacy officer runs through a server: ``principal …``, ``recipient …``,
``notice record-ack``, ``policy …``, ``storage add-root``, ``storage s3``, ``ledger witness …``, ``key
export-public``, ``asset set-subject``, ``erase asset-proof`` and ``export``. Roster and channel changes are signed here with the admin's own
identity, after checking that the template the server gave says exactly what was asked (a server that
slipped another key or role into it would otherwise have the admin sign it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from disgorge.client.services import Transport, sign_as, unserved
from disgorge.errors import VerificationFailed

if TYPE_CHECKING:
    from collections.abc import Sequence

    from disgorge.model.capture import CapturedRun
    from disgorge.trust import Identity, Signed


def _checked(tpl: dict[str, Any], kind: str, about: str, body: dict[str, Any], chain: str) -> dict[str, Any]:
    """``tpl``'s body, refused unless it is ``body`` plus the roster digest it follows (``chain``)."""
    got = dict(tpl.get("body") or {})
    digest = got.pop(chain, None)
    if tpl.get("kind") != kind or tpl.get("about") != about or got != body or not isinstance(digest, str):
        raise VerificationFailed(
            f"the server's {kind} statement about {about!r} is not what was asked: not signed",
            hint="check DISGORGE_URL names your team's server",
        )
    return {**body, chain: digest}


@dataclass(frozen=True)
class RemoteBinding:
    """A recipient's channel binding as the server reports it (``cat.recipients.list()``'s items)."""

    doc: dict[str, Any]

    party = property(lambda self: str(self.doc["party"]))
    channel = property(lambda self: dict(self.doc["channel"]))
    key = property(lambda self: self.doc["key"])
    set_by = property(lambda self: str(self.doc["set_by"]))
    index = property(lambda self: int(self.doc["ledger_index"]))

    def to_json(self) -> dict[str, Any]:
        return dict(self.doc)


class RemoteRecipients:
    def __init__(self, transport: Transport, identity: Identity | None) -> None:
        self._t, self._identity = transport, identity

    def __getattr__(self, name: str) -> Any:
        raise unserved(getattr(self._t, "command", None), f"the recipients' {name}")

    def list(self) -> tuple[list[RemoteBinding], list[str]]:
        doc = self._t._call("GET", "/recipients")
        return [RemoteBinding(b) for b in doc["recipients"]], list(doc["set_aside"])

    def set_channel(
        self, party: str, *, webhook: str | None = None, command: str | None = None, key: str | None = None
    ) -> RemoteBinding:
        from disgorge.notices.service import party_name

        asked = {"webhook": webhook, "command": command, "key": key.strip() if key else key}
        tpl = self._t._call(
            "GET", "/recipients/statement", params={"party": party, **{k: v for k, v in asked.items() if v}}
        )
        channel = (
            {"kind": "webhook", "url": webhook}
            if webhook is not None
            else {"kind": "command", "command": command}
        )
        body = _checked(
            tpl, "recipient.set", party_name(party), {"channel": channel, "key": asked["key"]}, "roster"
        )
        signed = sign_as(self._t, self._identity, tpl, "recipient.set", body)
        return RemoteBinding(self._t._call("POST", "/recipients", json=signed))

    def record_ack(self, signed: Signed) -> dict[str, Any]:
        """A recipient's acknowledgement, sent as they signed it (verified and recorded there)."""
        result: dict[str, Any] = self._t._call("POST", "/notices/acks", json=signed.to_json())
        return result


class AdminClient:
    """The admin commands (a mixin of :class:`~disgorge.client.RemoteCatalog`)."""

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    @property
    def identity(self) -> Identity | None:
        raise NotImplementedError

    def principals(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/principals"))

    def change_roster(self, kind: str, name: str, **body: Any) -> dict[str, Any]:
        """The roster statement the server checked, compared with what was asked, signed here."""
        from disgorge.trust import normalise_name

        params: dict[str, Any] = {"kind": kind, "name": name, "role": list(body.get("roles", []))}
        if "key" in body:
            params["key"] = body["key"]
        tpl = self._call("GET", "/principals/statement", params=params)
        if "roles" in body:
            body = {**body, "roles": sorted(set(body["roles"]))}
        checked = _checked(tpl, kind, normalise_name(name), body, "prev")
        signed = sign_as(self, self.identity, tpl, kind, checked)  # type: ignore[arg-type]
        member: dict[str, Any] = self._call("POST", "/principals", json=signed)
        return member

    @property
    def recipients(self) -> RemoteRecipients:
        return RemoteRecipients(self, self.identity)  # type: ignore[arg-type]

    def policy_source(self) -> tuple[str, str]:
        doc = self._call("GET", "/policy")
        return str(doc["text"]), str(doc["version"])

    def set_policy(self, path: Path) -> int:
        from disgorge.policy import read_policy_file

        body = {"text": read_policy_file(path), "origin": str(path)}
        return int(self._call("PUT", "/policy", json=body)["version"])

    def add_storage_root(self, root: Path) -> list[str]:
        """A folder named here, sent as its absolute path (the server reads paths against its own folder)."""
        return list(self._call("POST", "/storage/roots", json={"paths": [str(root.resolve())]})["roots"])

    def set_s3(self, settings: dict[str, str]) -> dict[str, str]:
        """The endpoint, sent with the names of the variables that hold its credentials, never a secret."""
        from disgorge.errors import UsageError

        if settings.get("access_key_id") or settings.get("secret_access_key"):
            raise UsageError(
                "S3 credentials in clear stay in a home, and through a server they would be sent to it",
                hint="name the environment variables the server reads them from "
                "(--access-key-id-env, --secret-access-key-env), or unset DISGORGE_URL",
            )
        keep = ("endpoint_url", "access_key_id_env", "secret_access_key_env", "weed_master")
        body = {k: settings[k] for k in keep if settings.get(k)}
        return dict(self._call("PUT", "/storage/s3", json=body)["s3"])

    def storage_roots(self) -> list[str]:
        return list(self._call("GET", "/storage/roots")["roots"])

    def signing_key(self) -> str:
        """The server's log key, which signs its checkpoints and certificates."""
        return str(self._call("GET", "/ledger/keys")["current"])

    def set_subject(self, sha256: str, subject: str, *, reason: str) -> tuple[Any, bool]:
        from types import SimpleNamespace
        from urllib.parse import quote

        doc = self._call(
            "POST", f"/assets/{quote(sha256, safe='')}/subject", json={"subject": subject, "reason": reason}
        )
        return SimpleNamespace(sha256=doc["sha256"]), bool(doc["changed"])

    def export(self, dataset: str, *, to: str, dest: Path, at: Any = None) -> tuple[Any, Any]:
        """The server checks and records the share; the members are copied here from the copies this
        machine opens (each verified by its sha256), then the share's run is finished."""
        from types import SimpleNamespace
        from urllib.parse import quote

        from disgorge.enforcement.export import write_members
        from disgorge.errors import UsageError

        if at is not None:
            raise UsageError("an export decided as of another time is not served by the API")
        r = self._call("POST", "/exports", json={"dataset": dataset, "to": to})
        status = "failed"
        try:
            result = write_members(r["members"], dest)
            status = "finished"
        finally:
            self._call("POST", f"/runs/{quote(r['run'], safe='')}/finish", json={"status": status})
        return SimpleNamespace(decision_uid=r["decision"]), result

    def _may(self, action: str) -> None:
        """Refused here already when the token's roles lack ``action`` (before reading anything to send);
        the server checks again."""
        from disgorge.access import require

        require(self.principal, action)  # type: ignore[attr-defined]

    def record_captured(self, runs: Sequence[CapturedRun], *, origin: str) -> dict[str, Any]:
        """Runs read here (an MLflow history), recorded by the server 500 at a time."""
        from pydantic import TypeAdapter

        from disgorge.model.capture import CapturedRun

        adapter = TypeAdapter(list[CapturedRun])
        report: dict[str, Any] = {"tracking_uri": origin, "runs": 0, "new_runs": 0, "inputs_resolved": 0}
        report |= {"models": 0, "unresolved": []}
        for i in range(0, max(len(runs), 1), 500):
            chunk = adapter.dump_python(list(runs[i : i + 500]), mode="json")
            part = self._call("POST", "/capture/runs", json={"origin": origin, "runs": chunk})
            for k in ("runs", "new_runs", "inputs_resolved", "models"):
                report[k] += part[k]
            report["unresolved"] += part["unresolved"]
        return report

    def asset_proof(self, plan: str, sha256: str) -> dict[str, Any]:
        from urllib.parse import quote

        proof: dict[str, Any] = self._call(
            "GET", f"/erasures/{quote(plan, safe='')}/asset-proof", params={"sha256": sha256}
        )
        return proof

    def witnesses(self) -> list[dict[str, str]]:
        return list(self._call("GET", "/ledger/witnesses")["witnesses"])

    def add_witness(self, url: str, key: str) -> list[dict[str, str]]:
        return list(
            self._call("POST", "/ledger/witnesses", json={"url": url, "key": key.strip()})["witnesses"]
        )
