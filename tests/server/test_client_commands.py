"""The commands people use daily, run twice: against a local catalog, and through a server over an
identical one (``DISGORGE_URL``, ``DISGORGE_TOKEN``, ``DISGORGE_IDENTITY``). Each step must print the
same and exit the same; only what differs between two catalogs by nature (ids, times, the folder) is
normalised before comparing."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import disgorge
from disgorge.access.tokens import TokenService
from disgorge.ingest import IngestOptions
from disgorge.ledger.cosignature import CosignatureVerifier
from disgorge.policy import DEFAULT_POLICY
from disgorge.trust import Identity
from tests.as_a_person import dg
from tests.conftest import PEOPLE, accept_notices, claim, write_photo

from .conftest import LiveServer


@dataclass
class World:
    root: Path
    cat: disgorge.Catalog
    server: LiveServer
    tokens: dict[str, str]

    @property
    def work(self) -> Path:
        return self.root / "client"


def _world(root: Path) -> World:
    """The erasure story's catalog: three subjects' photos, a dataset, a model trained on it."""
    work = root / "client"
    (work / "m").mkdir(parents=True)
    for s in ("alice", "bob", "carol"):
        for k in range(3):
            write_photo(work / "photos" / s / f"p{k}.jpg", s, sum(map(ord, s)) * 10 + k)
    url = f"sqlite:///{root / 'catalog.db'}"
    cat = disgorge.open(root / "home", catalog_url=url, identity=PEOPLE["ann"])
    claim(cat, PEOPLE)
    cat.add_source(
        "site",
        notice=b"we operate the service",
        uses=["essential.service"],
        recipients=["site"],
        categories=["user.content.self_image"],
        legal_basis="contract",
    )
    accept_notices(cat, "site")
    cat.add_storage_root(work)
    cat.ingest(work / "photos", IngestOptions(source="site", subject_from="parent-dir", workers=1))
    cat.create_dataset("all", source="site")
    (work / "m" / "base").write_bytes(b"base")
    with cat.run(
        "pretrain", enforce=False, use="essential.service", party="site", inputs=["dataset:all"]
    ) as r:
        r.log_model(work / "m" / "base", name="base")
    (work / "student.pt").write_bytes(b"student weights")
    (work / "consent.csv").write_text(
        "subject_id,use,recipient,action,timestamp,notice_version\n"
        "alice,train_ai_system,acme,granted,2026-01-02T00:00:00Z,1\n"
    )
    (work / "bad.csv").write_text("subject_id,use\nalice\n")
    (work / "notes.txt").write_text("not a photo")
    (work / "notice.txt").write_text("We run the shop.\n")
    (work / "policy.yaml").write_text(DEFAULT_POLICY + "\n# ours\n")
    for who in ("alice", "bob"):
        SHAS[who] = hashlib.sha256((work / "photos" / who / "p0.jpg").read_bytes()).hexdigest()
    (work / "manifest.txt").write_text("path\nphotos/alice/p0.jpg\nphotos/bob/p1.jpg\n")
    service = TokenService(cat.store)
    tokens = {name: service.issue(cat.principal, "tests", principal=name)[1] for name in PEOPLE}
    for name, ident in PEOPLE.items():
        ident.save(root / f"{name}.identity")
    return World(root, cat, LiveServer(root, home="home", catalog_url=url), tokens)


@pytest.fixture
def twins(tmp_path: Path) -> Iterator[tuple[World, World]]:
    a, b = _world(tmp_path / "a"), _world(tmp_path / "b")
    try:
        yield a, b
    finally:
        for w in (a, b):
            w.server.stop()
            w.cat.close()


ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12,}|dgt_[\w-]+|disgorge-[0-9a-f]{8}"
)
TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)?")
SIG = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")  # roots and signatures in base64


def _norm(text: str, w: World) -> str:
    text = text.replace(str(w.root), "<root>").replace("\n", " ")
    return SIG.sub("<b64>", TIME.sub("<time>", ID.sub("<id>", text)))


def _local(w: World, who: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.delenv("DISGORGE_URL", raising=False)
    monkeypatch.setenv("DISGORGE_IDENTITY", str(w.root / f"{who}.identity"))
    return dg(w.work, *args, home="../home", catalog=w.cat.store.url)


def _remote(w: World, who: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setenv("DISGORGE_URL", w.server.url)
    monkeypatch.setenv("DISGORGE_TOKEN", w.tokens[who])
    monkeypatch.setenv("DISGORGE_IDENTITY", str(w.root / f"{who}.identity"))
    return dg(w.work, *args, home="no-home-here")


STEPS: list[tuple[str, str]] = [
    ("eve", "check --dataset all --use essential.service --recipient site"),
    ("eve", "check --dataset all --use train_ai_system --recipient acme"),
    ("eve", "check --dataset all --use train_ai_system --recipient acme --json"),
    ("eve", "check --dataset missing --use essential.service --recipient site"),
    ("eve", "check --dataset all --use essential.service"),
    ("eve", "check --dataset all --use essential.service --recipient site --at 2026-01-01T00:00:00Z"),
    ("eve", "check --dataset all --use train_ai_system --recipient acme --at 2030-01-01T00:00Z --json"),
    ("eve", "check --dataset all --use essential.service --recipient site --at yesterday"),
    ("eve", "check --runs"),
    ("eve", "check --runs --json"),
    ("eve", "check --runs --at 2026-01-01T00:00:00Z"),
    ("eve", "coverage"),
    ("eve", "coverage --json"),
    ("eve", "coverage --since 2030-01-01T00:00:00Z --json"),
    ("eve", "coverage --since 2026-01-01"),
    ("eve", "job list"),
    ("eve", "job show 0123456789abcdef"),
    ("eve", "job cancel 0123456789abcdef"),
    ("eve", "source add shop --notice notice.txt --uses essential.service --recipients site"),
    ("eve", "source add shop --notice notice.txt --uses essential.service --recipients site --json"),
    ("eve", "source add shop --notice missing.txt --uses essential.service"),
    ("dan", "source add shop2 --notice notice.txt --uses essential.service"),
    ("eve", "dataset create kids --from all --where source=site"),
    ("eve", "dataset create kids --from all --where source=site --json"),
    ("eve", "dataset create two --manifest manifest.txt"),
    ("eve", "dataset create bad --source site --from all"),
    ("eve", "dataset create bad --where x=1"),
    ("eve", "dataset create bad --source nosuch"),
    ("eve", "dataset list"),
    ("eve", "export --dataset all --to site --dest shared"),
    ("eve", "export --dataset all --to site --dest shared --json"),
    ("eve", "export --dataset all --to acme --dest refused"),
    ("eve", "export --dataset nosuch --to site --dest refused"),
    ("dan", "export --dataset all --to site --dest refused"),
    (
        "eve",
        "run record --name ft --use essential.service --party site --input model:base --output model:student=student.pt",
    ),
    (
        "eve",
        "run record --name emb --use essential.service --party site --input dataset:all --output embedding:m/base --json",
    ),
    ("eve", "run record --name bad --use essential.service --party site --output model:missing.pt"),
    ("eve", "run record --name bad --use essential.service --party site --input dataset:nope"),
    ("eve", "lineage student"),
    ("eve", "lineage m/base"),
    ("eve", "lineage m/base --json"),
    ("eve", "lineage m/nope"),
    (
        "eve",
        "run record --name ft2 --use essential.service --party site --input model:m/base --output model:student.pt",
    ),
    ("eve", "lineage student.pt"),
    ("eve", "model deploy m/base --target https://api.example/v0"),
    ("eve", "model deploy student --target https://api.example/v1/faces"),
    ("eve", "model deploy student --target https://api.example/v2 --json"),
    ("eve", "model deploy student --target https://x.example --hook true"),
    ("eve", "model deploy nosuch --target https://x.example"),
    ("eve", "lookup photos/alice/p0.jpg"),
    ("eve", "lookup photos/bob/p1.jpg --json"),
    ("eve", "lookup notes.txt"),
    ("eve", "lookup missing.jpg"),
    ("ann", "consent import consent.csv"),
    ("ann", "consent import consent.csv --json"),
    ("ann", "consent import bad.csv"),
    ("eve", "consent import consent.csv"),
    ("eve", "check --runs"),
    ("eve", "check --runs --json"),
    ("eve", "token list"),
    ("eve", "token list --json"),
    ("ann", "token create --name ci"),
    ("ann", "token create --name bot --for eve --expires 30d --json"),
    ("ann", "token create --name bot --for nobody"),
    ("ann", "token create --name bot --expires soon"),
    ("ann", "token revoke 0123456789abcdef"),
    ("eve", "token list"),
    ("dan", "ledger checkpoint --json"),
    ("dan", "ledger prove 1"),
    ("dan", "ledger prove 100000"),
    ("dan", "ledger verify"),
    ("eve", "ledger verify --json"),
    ("dan", "ledger verify --from missing.txt"),
    ("ann", "erase plan --subject alice --reason order --legal-basis GDPR-17 -q"),
    ("ann", "erase plan --subject alice --reason order --legal-basis GDPR-17"),
    ("ann", "erase plan --subject alice --source site --reason x --legal-basis y"),
    ("eve", "erase plan --subject bob --reason order --legal-basis GDPR-17"),
    ("dan", "erase run {plan}"),
    ("ann", "erase run {plan} --json"),
    ("dan", "erase run 0000000000"),
    ("ann", "erase show {plan}"),
    ("ann", "erase show {plan} --json"),
    ("eve", "erase approve {plan}"),
    ("ann", "erase approve {plan}"),
    ("bea", "erase approve {plan}"),
    ("cy", "erase approve {plan} --json"),
    ("eve", "erase run {plan}"),
    ("eve", "erase run {plan} --json"),
    ("dan", "erase show {plan}"),
    ("dan", "erase certificate {plan} -o cert.json"),
    ("dan", "erase show 0000000000"),
    ("dan", "erase verify {plan}"),
    ("dan", "erase verify {plan} --json"),
    ("eve", "erase verify {plan}"),
    ("eve", "erase run {plan} --execute"),
    ("ann", "erase run {plan} --execute"),
    ("ann", "erase run {plan} --execute --json"),
    ("ann", "erase show {plan}"),
    ("eve", "erase resolve {plan} 0 --reason taken-down-by-hand"),
    ("dan", "erase run {plan}"),
    ("bea", "erase resolve {plan} 0 --reason taken-down-by-hand"),
    ("bea", "erase resolve {plan} 1 --reason taken-down-by-hand --json"),
    ("cy", "erase resolve {plan} 2 --reason taken-down-by-hand"),
    ("ann", "erase run {plan} --execute"),
    ("dan", "erase verify {plan}"),
    ("dan", "erase verify {plan} --json"),
    ("dan", "erase verify {plan} --scan photos"),
    ("dan", "erase certificate {plan} -o cert.json"),
    ("dan", "erase show {plan} --json"),
    ("dan", "erase run {plan} --json"),
    ("dan", "ledger checkpoint --json"),
    ("dan", "ledger verify"),
    ("dan", "ledger verify --json"),
    ("ann", "asset set-subject {bob} --subject robert --reason merged-accounts"),
    ("ann", "asset set-subject {bob} --subject robert --reason again --json"),
    ("ann", "asset set-subject {bob} --subject robert --reason"),
    ("ann", "asset set-subject 00 --subject x --reason y"),
    ("eve", "asset set-subject {bob} --subject bob --reason mine"),
    ("eve", "impact --subject robert"),
    ("dan", "erase asset-proof {plan} --sha256 {alice} -o proof.json"),
    ("dan", "erase asset-proof {plan} --sha256 {bob} -o proof.json"),
    ("dan", "erase asset-proof 0000000000 --sha256 {alice} -o proof.json"),
    # an admin's commands: the roster and channels signed by ann on the client, the rest as settings
    ("dan", "principal list"),
    ("dan", "principal list --json"),
    ("ann", "principal add fay --key {fay} --role engineer"),
    ("ann", "principal add fay --key {fay} --role engineer"),
    ("ann", "principal add Fay --key {fay} --role auditor"),
    ("ann", "principal add gus --key not-a-key --role engineer"),
    ("ann", "principal add gus --key {fay} --role wizard"),
    ("eve", "principal add gus --key {fay} --role engineer"),
    ("ann", "principal set-roles fay --role engineer --role auditor --json"),
    ("ann", "principal set-roles nobody --role engineer"),
    ("ann", "principal revoke fay"),
    ("ann", "principal revoke fay"),
    ("dan", "principal list"),
    ("dan", "recipient list"),
    ("ann", "recipient set acme --command true --key {fay}"),
    ("ann", "recipient set acme --webhook https://acme.example/notices --json"),
    ("ann", "recipient set acme --webhook ftp://acme.example/notices"),
    ("ann", "recipient set acme"),
    ("eve", "recipient set acme --command true"),
    ("dan", "recipient list"),
    ("dan", "recipient list --json"),
    ("dan", "policy show"),
    ("ann", "policy set policy.yaml"),
    ("ann", "policy set policy.yaml --json"),
    ("ann", "policy set bad.csv"),
    ("ann", "policy set missing.yaml"),
    ("eve", "policy set policy.yaml"),
    ("dan", "policy show"),
    ("ann", "storage add-root photos --json"),
    ("ann", "storage add-root nosuch"),
    ("eve", "storage add-root photos"),
    (
        "ann",
        "storage s3 --endpoint-url http://127.0.0.1:9 --access-key-id-env AK --secret-access-key-env SK --json",
    ),
    ("eve", "storage s3 --endpoint-url http://127.0.0.1:9"),
    ("ann", "storage s3 --endpoint-url http://127.0.0.1:9 --weed-master 127.0.0.1:9333"),
    ("dan", "ledger witness list"),
    ("ann", "ledger witness add https://witness.example --key garbage"),
    ("ann", "ledger witness add https://witness.example --key {witness}"),
    ("eve", "ledger witness add https://witness.example --key {witness}"),
    ("dan", "ledger witness list --json"),
    ("dan", "key export-public"),
]
FAY = Identity.generate("fay")
SHAS: dict[str, str] = {}
"""alice's and bob's first photos, by sha256 (the same in both worlds), filled in by ``_world``."""
WITNESS = CosignatureVerifier.from_public_key(
    "witness.example", Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
).vkey()


def test_each_daily_command_is_the_same_through_the_server(
    twins: tuple[World, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = twins
    plans: dict[str, str] = {}
    for who, line in STEPS:
        keys = {"fay": FAY.public_key, "witness": WITNESS, **SHAS}
        here = _local(a, who, line.format(plan=plans.get("a", ""), **keys).split(), monkeypatch)
        there = _remote(b, who, line.format(plan=plans.get("b", ""), **keys).split(), monkeypatch)
        if line.endswith(" -q"):
            plans["a"], plans["b"] = here.stdout.strip(), there.stdout.strip()  # type: ignore[attr-defined]
        got = (there.returncode, _norm(there.stdout, b), _norm(there.stderr, b))  # type: ignore[attr-defined]
        want = (here.returncode, _norm(here.stdout, a), _norm(here.stderr, a))  # type: ignore[attr-defined]
        assert got == want, "\n".join(map(str, (who, line, got, want)))
    assert not (b.work / "no-home-here").exists()
    assert all(json.loads((w.work / "proof.json").read_text()) for w in (a, b))  # alice's erased photo
    for w, run in ((a, _local), (b, _remote)):  # a token issued, then revoked, by its id
        made = json.loads(run(w, "ann", ["token", "create", "--name", "tmp", "--json"], monkeypatch).stdout)  # type: ignore[attr-defined]
        plans[f"token-{w.root.name}"] = made["id"]
    for line in ("token revoke {id}", "token revoke {id} --json", "token list"):
        here = _local(a, "ann", line.format(id=plans["token-a"]).split(), monkeypatch)
        there = _remote(b, "ann", line.format(id=plans["token-b"]).split(), monkeypatch)
        got = (there.returncode, _norm(there.stdout, b), _norm(there.stderr, b))  # type: ignore[attr-defined]
        assert got == (here.returncode, _norm(here.stdout, a), _norm(here.stderr, a)), line  # type: ignore[attr-defined]
    # the execution ran as a job only through the server: its jobs, read there and straight on the catalog
    for who, line in (("ann", "job list"), ("ann", "job list --json"), ("eve", "job list --json")):
        here, there = _local(b, who, line.split(), monkeypatch), _remote(b, who, line.split(), monkeypatch)
        assert (there.returncode, there.stdout) == (here.returncode, here.stdout), line  # type: ignore[attr-defined]
    job = json.loads(_remote(b, "ann", ["job", "list", "--json"], monkeypatch).stdout)[0]["id"]  # type: ignore[attr-defined]
    for who, line in (
        ("ann", f"job show {job}"),
        ("ann", f"job show {job} --json"),
        ("eve", f"job show {job}"),
    ):
        here, there = _local(b, who, line.split(), monkeypatch), _remote(b, who, line.split(), monkeypatch)
        got = (there.returncode, there.stdout, there.stderr)  # type: ignore[attr-defined]
        assert got == (here.returncode, here.stdout, here.stderr), line  # type: ignore[attr-defined]
    there, here = (
        _remote(b, "ann", ["job", "cancel", job], monkeypatch),
        _local(b, "ann", ["job", "cancel", job], monkeypatch),
    )
    assert (there.returncode, there.stdout, there.stderr) == (here.returncode, here.stdout, here.stderr)  # type: ignore[attr-defined]


NOT_SERVED = [
    ("ingest photos --source site", "ingest"),
    ("scan photos", "scan"),
    ("key export --secret", "`disgorge key export`"),
    ("key rotate", "`disgorge key rotate`"),
    ("init", "`disgorge init`"),
    ("unlearning verify m/base", "`disgorge unlearning verify`"),
]


def test_through_a_server_only_an_admin_issues_tokens(
    twins: tuple[World, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token never mints another: through a server ``token create`` is an admin's (locally each
    member issues their own, with their identity); revoking your own token works either way."""
    _, b = twins
    r = _remote(b, "eve", ["token", "create", "--name", "more"], monkeypatch)
    assert r.returncode == 1 and "token.issue" in r.stderr, r.stderr  # type: ignore[attr-defined]
    assert "dgt_" not in r.stdout  # type: ignore[attr-defined]
    assert _local(b, "eve", ["token", "create", "--name", "more"], monkeypatch).returncode == 0  # type: ignore[attr-defined]
    mine = json.loads(_remote(b, "eve", ["token", "list", "--json"], monkeypatch).stdout)  # type: ignore[attr-defined]
    other = next(t["id"] for t in mine if t["name"] == "more")
    r = _remote(b, "eve", ["token", "revoke", other], monkeypatch)
    assert r.returncode == 0 and "revoked" in r.stdout, r.stderr  # type: ignore[attr-defined]
    r = _remote(
        b, "dan", ["token", "revoke", next(t["id"] for t in mine if t["name"] == "tests")], monkeypatch
    )
    assert r.returncode == 1 and "only an admin" in r.stderr, r.stderr  # type: ignore[attr-defined]


def test_what_is_not_served_says_so_in_one_line(
    twins: tuple[World, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, b = twins
    plan = _remote(
        b,
        "ann",
        ["erase", "plan", "--subject", "alice", "--reason", "o", "--legal-basis", "b", "-q"],
        monkeypatch,
    )
    for line, what in NOT_SERVED:
        r = _remote(b, "ann", line.format(plan=plan.stdout.strip()).split(), monkeypatch)  # type: ignore[attr-defined]
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]  # type: ignore[attr-defined]
        assert r.returncode == 2, (line, lines)  # type: ignore[attr-defined]
        assert lines[0].startswith("error (disgorge.usage)") and what in lines[0], (line, lines)
        assert len(lines) == 2 and "DISGORGE_URL" in r.stderr, (line, lines)  # type: ignore[attr-defined]


def _same(a: World, b: World, who: str, line: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Run ``line`` in both worlds (locally in ``a``, through ``b``'s server); they must agree."""
    here = _local(a, who, line.split(), monkeypatch)
    there = _remote(b, who, line.split(), monkeypatch)
    got = (there.returncode, _norm(there.stdout, b), _norm(there.stderr, b))  # type: ignore[attr-defined]
    want = (here.returncode, _norm(here.stdout, a), _norm(here.stderr, a))  # type: ignore[attr-defined]
    assert got == want, line
    return want[0], want[1] + want[2]


def _tamper(w: World, sql: str, **params: object) -> None:
    from sqlalchemy import text

    with w.cat.store.engine.begin() as c:
        c.execute(text(sql), params)


def test_ledger_verify_through_the_server_audits_on_the_client(
    twins: tuple[World, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server hands over what it stores; the client recomputes, so a catalog edited behind the
    server's back fails ``ledger verify`` through it exactly as it fails locally (exit 1)."""
    from disgorge.ledger.merkle import leaf_hash

    a, b = twins
    for w, run in ((a, _local), (b, _remote)):
        cp = run(w, "dan", ["ledger", "checkpoint"], monkeypatch)
        (w.work / "earlier.txt").write_text(cp.stdout)  # type: ignore[attr-defined]
    assert _same(a, b, "dan", "ledger verify --from earlier.txt", monkeypatch)[0] == 0
    import httpx

    from disgorge.client.services import pages

    class Dan:  # the client's own pager, over pages of 7 (the CLI asks for 10,000 at a time)
        def __init__(self) -> None:
            self.c = httpx.Client(
                base_url=f"{b.server.url}/api/v1", headers={"Authorization": f"Bearer {b.tokens['dan']}"}
            )

        def _call(self, method: str, path: str, **kw: object) -> object:
            r = self.c.request(method, path, **kw)  # type: ignore[arg-type]
            r.raise_for_status()
            return r.json()

    dan = Dan()
    small = [(e["index"], e["entry"], e["leaf"]) for e in pages(dan, "/ledger/entries", limit=7)]  # type: ignore[arg-type]
    stored = [(i, e, leaf.hex()) for i, e, leaf in b.cat.store.ledger_entries()]
    assert small == stored and len(stored) > 14
    dan.c.close()
    _same(a, b, "ann", "erase plan --subject carol --reason order --legal-basis GDPR-17 -q", monkeypatch)

    def event(w: World) -> int:  # an event, not a statement (the roster and approvals are statements)
        with w.cat.store.engine.connect() as c:
            from sqlalchemy import text

            return int(
                c.execute(text("SELECT min(seq) FROM ledger_entries WHERE kind NOT LIKE '%.%'")).scalar()
            )

    seq = event(a)
    assert event(b) == seq
    for w in (a, b):  # an entry's text edited, its stored leaf left alone
        _tamper(
            w,
            "UPDATE ledger_entries SET entry = replace(entry, :a, :b) WHERE seq = :s",
            a='"at":"20',
            b='"at":"19',
            s=seq,
        )
    code, said = _same(a, b, "dan", "ledger verify", monkeypatch)
    assert code == 1 and f"ledger entry {seq}: its stored leaf hash does not match" in said, said

    for w in (a, b):  # and its leaf recomputed too: the signed checkpoints catch it
        entry = w.cat.store.ledger_entry(seq)[0]
        _tamper(
            w, "UPDATE ledger_entries SET leaf = :leaf WHERE seq = :s", leaf=leaf_hash(entry.encode()), s=seq
        )
    code, said = _same(a, b, "dan", "ledger verify --json", monkeypatch)
    assert code == 1 and "does not match the log" in said, said

    for w in (a, b):  # the checkpoints dropped and the edited log signed afresh: a kept one fails
        _tamper(w, "DELETE FROM ledger_checkpoints")
    assert _same(a, b, "dan", "ledger checkpoint --json", monkeypatch)[0] == 0
    assert _same(a, b, "dan", "ledger verify", monkeypatch)[0] == 0
    code, said = _same(a, b, "dan", "ledger verify --from earlier.txt", monkeypatch)
    assert code == 1 and "does not match the log" in said, said
