"""Notices to recipients, and what makes their delivery and acknowledgement checkable by anyone.

Three documents, all pure JSON and Ed25519:

- a **channel binding**: a ``recipient.set`` statement, signed by an admin of the roster, that binds a
  recipient party to a delivery channel (an HTTPS webhook or a command) and to the public key the party
  acknowledges with. Who may acknowledge for a party is decided by this signature, never by a table.
- a **notice** (``disgorge-notice/1``): what the party must delete, by keyed content hash, signed with
  the home's log key. Its id is the sha256 of the canonical JSON of its ``notice`` member, which names
  the binding it is delivered under and that binding's key, so an acknowledgement of the id commits
  to the notice's content, the channel and the key in one hash::

      {"notice_id": "<sha256 hex>",
       "notice": {"format": "disgorge-notice/1", "catalog", "origin", "plan_id", "party", "legal_basis",
                  "reason", "deadline", "runs": [...], "channel": "<binding digest>" | null,
                  "ack_key": "<verifier key>" | null,
                  "delete": {"salt": "<hex>", "content": {"count", "merkle_root"}, "artifacts": [sha256]}},
       "content": ["<HMAC-SHA256(salt, sha256 of the bytes), hex>", ...],
       "signature": {"alg": "Ed25519", "key": "<the home's verifier key>", "value": "<base64>"}}

  The signature is over ``disgorge-notice/1\\n`` followed by the canonical JSON (RFC 8785) of
  ``{"notice_id", "notice"}``; ``content`` is sorted and unique, and ``merkle_root`` is the RFC 9162
  root over its entries as leaves (as the certificate's erased set), so the id, hence the signature,
  commits to the list.
- an **acknowledgement**: a ``notice.ack`` statement (:mod:`disgorge.trust.statements`) by the party's
  own identity, ``catalog`` the notice's catalog, ``about`` the notice id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from disgorge.errors import DisgorgeError, InputError, VerificationFailed
from disgorge.hashing.canonical import canonical_json
from disgorge.ledger.merkle import leaf_hash, root_from_leaf_hashes
from disgorge.ledger.note import NoteVerifier, verifier_key
from disgorge.trust.identity import Identity
from disgorge.trust.roster import fold
from disgorge.trust.statements import Signed, sign, verify_signature

FORMAT = "disgorge-notice/1"
DOMAIN = b"disgorge-notice/1\n"
CHANNEL_KINDS = ("webhook", "command")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_HEX64 = re.compile(r"[0-9a-f]{64}")
INSTRUCTIONS = (
    "For each file you hold, compute HMAC-SHA256 with key bytes.fromhex(delete.salt) over the 32-byte "
    "SHA-256 of its bytes; delete it if the hex result is in content, with every copy, model or artifact "
    "made from it, and delete every artifact whose SHA-256 is in delete.artifacts. Then acknowledge: "
    "disgorge notice ack NOTICE_FILE --identity YOUR_IDENTITY -o ACK_FILE, and return ACK_FILE."
)
HEADER = (
    "format",
    "catalog",
    "origin",
    "plan_id",
    "party",
    "legal_basis",
    "reason",
    "deadline",
    "runs",
    "channel",
    "ack_key",
    "delete",
)


# --- channels ----------------------------------------------------------------------------------------
def webhook_problem(url: str) -> str | None:
    """Why ``url`` may not receive notices, or None. HTTPS only; plain HTTP to loopback is for tests."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        return f"{url!r} is not a URL ({exc})"
    if parts.scheme not in ("https", "http") or not host:
        return f"{url!r} is not an https:// URL"
    if parts.username or parts.password:
        return "a webhook URL may not carry credentials: it is kept in the signed binding and the certificate"
    if parts.scheme == "http" and not _loopback(host):
        return (
            f"{url!r} is plain HTTP to {host}: notices travel only over HTTPS "
            "(plain http is allowed to 127.0.0.1 and localhost, for tests)"
        )
    return None


def _loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def channel_problem(channel: Any) -> str | None:
    """Why a channel document is not valid, or None."""
    if not isinstance(channel, dict) or channel.get("kind") not in CHANNEL_KINDS:
        return f"a channel is {{'kind': 'webhook', 'url': …}} or {{'kind': 'command', 'command': …}}, got {channel!r}"
    field = "url" if channel["kind"] == "webhook" else "command"
    value = channel.get(field)
    if set(channel) != {"kind", field} or not isinstance(value, str) or not value.strip():
        return f"a {channel['kind']} channel needs a non-empty {field!r} and nothing else"
    if "\x00" in value or "\n" in value:
        return f"the {field} must be one line"
    return webhook_problem(value) if field == "url" else None


def describe(channel: dict[str, Any]) -> str:
    return f"webhook {channel['url']}" if channel["kind"] == "webhook" else f"command {channel['command']}"


# --- bindings ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Binding:
    """A verified channel binding: the party, its channel, the key it acknowledges with (if any)."""

    index: int
    party: str
    channel: dict[str, Any]
    key: str | None
    signed: Signed

    @property
    def digest(self) -> str:
        return binding_digest(self.signed)

    @property
    def set_by(self) -> str:
        return self.signed.principal

    def to_json(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "channel": self.channel,
            "key": self.key,
            "set_by": self.set_by,
            "set_at": self.signed.statement["at"],
            "ledger_index": self.index,
            "binding": self.digest,
        }


def binding_digest(signed: Signed) -> str:
    """What a notice names its binding by: the sha256 of the signed statement's canonical JSON."""
    return hashlib.sha256(canonical_json(signed.to_json())).hexdigest()


def binding_body(channel: dict[str, Any], key: str | None, roster_digest: str) -> dict[str, Any]:
    return {"channel": channel, "key": key, "roster": roster_digest}


def check_binding(
    catalog: str, index: int, signed: Signed, roster_statements: list[tuple[int, Signed]]
) -> Binding:
    """A ``recipient.set`` statement at ledger ``index``, checked from signatures alone: signed by an
    admin of the roster as it stood then (folded from ``roster_statements``), about this catalog."""
    where = f"the channel binding at ledger entry {index} ({signed.principal!r} for {signed.about!r})"
    verify_signature(signed, where)
    if signed.kind != "recipient.set":
        raise VerificationFailed(f"{where} is a {signed.kind} statement, not recipient.set")
    if signed.statement["catalog"] != catalog:
        raise VerificationFailed(f"{where} was made for another catalog (replayed across catalogs)")
    roster = fold(catalog, roster_statements, upto=index)
    admin = roster.active(signed.principal)
    if admin is None or admin.key != signed.key or "admin" not in admin.roles:
        raise VerificationFailed(
            f"{where}: {signed.principal!r} was not an admin of the roster with that key when signing "
            "(a channel set by a non-admin, or forged)"
        )
    body = signed.body
    if set(body) != {"channel", "key", "roster"}:
        raise VerificationFailed(f"{where}: malformed body (members {sorted(body)})")
    if body["roster"] != roster.digest():
        raise VerificationFailed(
            f"{where}: signed against another roster than the ledger's at that point "
            "(roster statements omitted, reordered or forged)"
        )
    problem = channel_problem(body["channel"])
    if problem:
        raise VerificationFailed(f"{where}: {problem}")
    key = body["key"]
    if key is not None:
        if not isinstance(key, str):
            raise VerificationFailed(f"{where}: the acknowledgement key must be a verifier key string")
        try:
            NoteVerifier.parse(key)
        except InputError as exc:
            raise VerificationFailed(
                f"{where}: the acknowledgement key is malformed ({exc.message})"
            ) from exc
    if not signed.about.strip():
        raise VerificationFailed(f"{where}: the party is empty")
    return Binding(index, signed.about, dict(body["channel"]), key, signed)


# --- notices -----------------------------------------------------------------------------------------
def keyed_content(salt: str, sha256_hex: str) -> str:
    """The notice's name for content: HMAC-SHA256(salt, sha256), so a notice reveals a hash only to
    whoever already holds the bytes, and no two notices name the same content alike."""
    return hmac.digest(bytes.fromhex(salt), bytes.fromhex(sha256_hex), "sha256").hex()


def content_root(content: list[str]) -> str:
    return root_from_leaf_hashes([leaf_hash(bytes.fromhex(k)) for k in content]).hex()


def notice_id(notice: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(notice)).hexdigest()


def build_notice(
    *,
    catalog: str,
    origin: str,
    plan: dict[str, Any],
    party: str,
    runs: list[str],
    binding: Binding | None,
    salt: str,
    content: list[str],
    artifacts: list[str],
) -> tuple[dict[str, Any], list[str]]:
    """The ``notice`` member and its sorted content list (the document is made by :func:`sign_notice`)."""
    keyed = sorted(set(content))
    notice = {
        "format": FORMAT,
        "catalog": catalog,
        "origin": origin,
        "plan_id": plan["plan_id"],
        "party": party,
        "legal_basis": plan["legal_basis"],
        "reason": plan["reason"],
        "deadline": plan["deadline"],
        "runs": sorted(runs),
        "channel": binding.digest if binding else None,
        "ack_key": binding.key if binding else None,
        "delete": {
            "salt": salt,
            "content": {"count": len(keyed), "merkle_root": content_root(keyed)},
            "artifacts": sorted(set(artifacts)),
        },
    }
    return notice, keyed


def _payload(doc: dict[str, Any]) -> bytes:
    """What the home signs: the id and the notice, which commits to ``content`` by its Merkle root (a
    parser checks the list against it), so signing never re-serialises a million hashes."""
    return DOMAIN + canonical_json({k: doc[k] for k in ("notice_id", "notice")})


def sign_notice(
    notice: dict[str, Any], content: list[str], private_key: Ed25519PrivateKey, key_name: str
) -> dict[str, Any]:
    doc: dict[str, Any] = {"notice_id": notice_id(notice), "notice": notice, "content": content}
    value = base64.b64encode(private_key.sign(_payload(doc))).decode()
    key = verifier_key(key_name, private_key.public_key())
    return {**doc, "instructions": INSTRUCTIONS, "signature": {"alg": "Ed25519", "key": key, "value": value}}


def dump_notice(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"


@dataclass(frozen=True, slots=True)
class Notice:
    notice_id: str
    notice: dict[str, Any]
    content: list[str]
    signature: dict[str, Any]

    @property
    def party(self) -> str:
        return str(self.notice["party"])

    @property
    def catalog(self) -> str:
        return str(self.notice["catalog"])

    @property
    def plan_id(self) -> str:
        return str(self.notice["plan_id"])

    @property
    def ack_key(self) -> str | None:
        key = self.notice["ack_key"]
        return None if key is None else str(key)

    def verify(self, home_keys: Iterable[str | NoteVerifier]) -> str:
        """Check the notice is signed by one of the catalog's log keys; returns the key's name."""
        doc = {"notice_id": self.notice_id, "notice": self.notice, "content": self.content}
        try:
            signer = NoteVerifier.parse(str(self.signature.get("key")))
            raw = base64.b64decode(str(self.signature.get("value")), validate=True)
        except (InputError, binascii.Error, ValueError) as exc:
            raise VerificationFailed(f"notice {self.notice_id[:16]}: malformed signature ({exc})") from exc
        trusted = {
            (k if isinstance(k, NoteVerifier) else NoteVerifier.parse(k)).public_key.public_bytes_raw()
            for k in home_keys
        }
        if signer.public_key.public_bytes_raw() not in trusted:
            raise VerificationFailed(
                f"notice {self.notice_id[:16]} is signed by {signer.name}, not by a key you trust for this catalog"
            )
        try:
            signer.public_key.verify(raw, _payload(doc))
        except InvalidSignature:
            raise VerificationFailed(
                f"notice {self.notice_id[:16]}: the signature does not verify (altered or forged)"
            ) from None
        return signer.name


def parse_notice(data: bytes, what: str = "the notice", error: type[DisgorgeError] = InputError) -> Notice:
    """A notice document, checked for shape and for its id and content root (not yet its signature)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"{what} is not a JSON document ({exc})") from exc
    if not isinstance(doc, dict) or not {"notice_id", "notice", "content", "signature"} <= set(doc):
        raise error(f"{what} is not a {FORMAT} document (members notice_id, notice, content, signature)")
    notice, content, signature = doc["notice"], doc["content"], doc["signature"]
    if not isinstance(notice, dict) or set(notice) != set(HEADER) or notice.get("format") != FORMAT:
        raise error(f"{what}: its notice member is not a {FORMAT} notice")
    for key in ("catalog", "origin", "plan_id", "party", "legal_basis", "reason"):
        if not isinstance(notice[key], str):
            raise error(f"{what}: notice.{key} must be a string")
    if not isinstance(content, list) or not all(isinstance(k, str) and _hex64(k) for k in content):
        raise error(f"{what}: content must be a list of 64-digit hex keyed hashes")
    if content != sorted(set(content)):
        raise error(f"{what}: content must be sorted and unique")
    delete = notice["delete"]
    if (
        not isinstance(delete, dict)
        or set(delete) != {"salt", "content", "artifacts"}
        or not isinstance(delete["content"], dict)
    ):
        raise error(f"{what}: notice.delete is malformed")
    if delete["content"] != {"count": len(content), "merkle_root": content_root(content)}:
        raise error(f"{what}: its content list does not match notice.delete.content (altered)")
    if (
        not isinstance(signature, dict)
        or set(signature) != {"alg", "key", "value"}
        or signature["alg"] != "Ed25519"
        or not all(isinstance(signature[k], str) for k in ("key", "value"))
    ):
        raise error(f"{what}: signature must be {{'alg': 'Ed25519', 'key': …, 'value': …}}")
    try:
        computed = notice_id(notice)
    except Exception as exc:
        raise error(f"{what}: the notice cannot be canonicalized ({exc})") from exc
    if doc["notice_id"] != computed:
        raise error(f"{what}: notice_id is not the hash of its notice (altered)")
    return Notice(computed, notice, content, signature)


def _hex64(value: str) -> bool:
    return _HEX64.fullmatch(value) is not None


# --- acknowledgements --------------------------------------------------------------------------------
def acknowledge(identity: Identity, notice: Notice) -> Signed:
    """The recipient's signed acknowledgement of a notice (offline: no catalog needed)."""
    if notice.ack_key is not None and notice.ack_key != identity.public_key:
        raise InputError(
            f"notice {notice.notice_id[:16]} is to be acknowledged by {notice.ack_key}, and your identity is "
            f"{identity.public_key}",
            hint="use the identity whose public key you gave the catalog's admin",
        )
    return sign(
        identity,
        "notice.ack",
        catalog=notice.catalog,
        about=notice.notice_id,
        body={"plan_id": notice.plan_id, "party": notice.party},
    )


def check_ack(signed: Signed, notice: dict[str, Any], binding: Binding, what: str) -> None:
    """An acknowledgement of ``notice`` (its ``notice`` member), delivered under ``binding``: signed by
    the key an admin bound to the party, about this very notice, in this very catalog."""
    party = notice["party"]
    verify_signature(signed, what)
    if signed.kind != "notice.ack":
        raise VerificationFailed(f"{what} is a {signed.kind} statement, not notice.ack")
    if signed.statement["catalog"] != notice["catalog"]:
        raise VerificationFailed(f"{what} was made for another catalog's notice (replayed across catalogs)")
    if signed.about != notice_id(notice):
        raise VerificationFailed(
            f"{what} is about notice {signed.about[:16]}, not {party!r}'s notice {notice_id(notice)[:16]} "
            "(an acknowledgement for another notice)"
        )
    named = (signed.body.get("party"), signed.body.get("plan_id"))
    if named != (party, notice["plan_id"]):
        raise VerificationFailed(
            f"{what} names party {named[0]!r} and plan {str(named[1])[:12]}, but notice {signed.about[:16]} is "
            f"{party!r}'s of plan {notice['plan_id'][:12]} (an acknowledgement for another notice)"
        )
    if notice["channel"] != binding.digest or binding.party != party:
        raise VerificationFailed(f"{what}: the notice was not delivered under {party!r}'s channel binding")
    if binding.key is None:
        raise VerificationFailed(
            f"{what}: no acknowledgement key is bound to {party!r}, so nobody may acknowledge for it",
            hint="an admin binds one: disgorge recipient set PARTY … --key KEY",
        )
    if signed.key != binding.key or notice["ack_key"] != binding.key:
        raise VerificationFailed(
            f"{what} is signed by {signed.principal!r} with key {signed.key}, not with the key an admin bound "
            f"to {party!r} ({binding.key}): an acknowledgement signed by another key"
        )
