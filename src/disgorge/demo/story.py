"""The story the project exists for, told with the public API on a generated corpus.

A dating site collected photos under a 2014 notice that allows operating the service only; a partner
trained face models on them anyway. Disgorge answers which models, fine-tunes, distilled students,
embeddings, deployments and third parties came from that source.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from disgorge.api import Catalog, RunContext
from disgorge.api import open as open_catalog
from disgorge.certificate import verify_any
from disgorge.certificate.render import render_html
from disgorge.demo.capture import Serve, capture_pipeline, check_installed, covered
from disgorge.demo.corpus import generate
from disgorge.errors import PolicyDenied
from disgorge.ingest import IngestOptions
from disgorge.ledger.certificate import dump_certificate
from disgorge.trust import Identity
from disgorge.trust.notices import acknowledge, parse_notice

DATING_NOTICE = """DatingSite Privacy Notice (2014-03-01)
We use the photos and profile details you give us to operate the DatingSite service: to show your
profile to other members and to match you with them. We do not sell your information or share it
with third parties except service providers acting on our behalf.
"""
RESEARCH_NOTICE = """Faces for Research: participant information and consent (2025-06-01)
Participants consent to the use of their photos to train and evaluate face analysis models by
Acme Research Lab, and to the lab's sharing of trained models with its named research partners.
Consent can be withdrawn at any time.
"""
THIRD_PARTY = "FaceVision Inc."


@dataclass(frozen=True, slots=True)
class DemoOptions:
    home: Path
    subjects: int = 300
    photos_per_subject: int = 8
    research_subjects: int = 40
    reset: bool = False
    capture: Serve | None = None
    """With a way to serve the catalog: the pipeline step of three producers (``demo/capture.py``)."""


Say = Callable[[str], None]


def _weights(path: Path, seed: int, mb: float = 1.0) -> Path:
    """Stand-in model weights: real bytes on disk with a stable hash, written as a training job would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    path.write_bytes(rng.standard_normal(int(mb * 262_144)).astype(np.float32).tobytes())
    return path


def run_demo(opts: DemoOptions, say: Say) -> Catalog:
    home = opts.home.absolute()
    if opts.capture is not None:
        check_installed()
    if opts.reset and home.exists():
        shutil.rmtree(home)
    data = home / "demo-data"
    t0 = time.perf_counter()
    say(f"[1/13] generating a corpus under {data} …")
    dating_manifest = generate(
        data / "datingsite",
        prefix="member",
        n_subjects=opts.subjects,
        photos_per_subject=opts.photos_per_subject,
    )
    research_manifest = generate(
        data / "research",
        prefix="volunteer",
        n_subjects=opts.research_subjects,
        photos_per_subject=6,
        seed=2025,
    )
    (data / "notices").mkdir(exist_ok=True)
    (data / "notices" / "datingsite-2014.txt").write_text(DATING_NOTICE)
    (data / "notices" / "research-2025.txt").write_text(RESEARCH_NOTICE)
    say(f"      done in {time.perf_counter() - t0:.1f}s")

    officer, counsel = _identities(home)
    cat = open_catalog(home, identity=officer)
    cat.init()  # the privacy officer claims the catalog as its first admin
    cat.change_roster("roster.add", counsel.name, key=counsel.public_key, roles=["approver", "auditor"])
    say("[2/13] registering the sources and their notices")
    cat.add_source(
        "datingsite",
        notice=data / "notices" / "datingsite-2014.txt",
        uses=["essential.service"],
        recipients=["datingsite"],
        categories=["user.content.self_image"],
        controller="DatingSite LLC",
        legal_basis="contract",
    )
    cat.add_source(
        "faces-research",
        notice=data / "notices" / "research-2025.txt",
        uses=["train_ai_system", "functional.service.improve"],
        recipients=["acme-research"],
        categories=["user.content.self_image"],
        controller="Acme Research Lab",
        legal_basis="consent",
    )
    say("[3/13] ingesting photos (sha256 + PDQ, both cores)")
    for source, manifest in (("datingsite", dating_manifest), ("faces-research", research_manifest)):
        t = time.perf_counter()
        summary = cat.ingest(manifest.parent, IngestOptions(source=source, manifest=manifest))
        dt = time.perf_counter() - t
        say(
            f"      {source}: {summary.new_assets} assets, {summary.bytes_read / 1e6:.0f} MB in {dt:.1f}s"
            f" ({summary.scanned / dt:.0f} files/s), {len(summary.problems)} refused"
        )

    say("[4/13] building datasets")
    models = home / "models"
    photos, _ = cat.create_dataset("datingsite-photos", source="datingsite")
    adults, _ = cat.create_dataset("datingsite-over-30", from_dataset=photos.ref, where="meta.age >= 30")
    research, _ = cat.create_dataset("research-faces", source="faces-research")
    for d in (photos, adults, research):
        say(f"      {d.ref}: {d.member_count} members, digest {d.digest[:16]}…")

    say("[5/13] consent: the research volunteers' grants arrive from the consent system")
    consent = data / "consent-export.csv"
    rows = ["subject_id,use,recipient,action,timestamp,notice_version"]
    rows += [
        f"volunteer-{i:05d},train_ai_system,acme-research,granted,2025-06-02T09:00:00Z,1"
        for i in range(opts.research_subjects)
    ]
    consent.write_text("\n".join(rows) + "\n")
    imported, _ = cat.import_consent(consent)
    say(f"      {imported} consent events imported")

    say(f"[6/13] enforcement: {THIRD_PARTY} asks for the dating site's photos")
    try:
        cat.export(photos.ref, to=THIRD_PARTY, dest=home / "outbox")
        say("      export ALLOWED (unexpected)")
    except PolicyDenied as exc:
        say(f"      export refused: {exc.message}")
    try:
        cat.run("face-train", use="train_ai_system", party=THIRD_PARTY, inputs=[f"dataset:{photos.ref}"])
        say("      training ALLOWED (unexpected)")
    except PolicyDenied as exc:
        say(f"      training refused: {exc.message}")
    report = cat.check([research.ref], use="train_ai_system", recipient="acme-research")
    say(
        f"      research training on {research.ref}: {'allowed' if report.ok else 'REFUSED'} "
        f"({len(report.allowed)} of {report.total} photos covered by consent)"
    )
    with cat.run(
        "research-baseline", use="train_ai_system", party="acme-research", inputs=[f"dataset:{research.ref}"]
    ) as run:
        run.log_model(_weights(models / "research-face-v1.bin", 6), name="research-face-v1")

    say(
        f"[7/13] it happened anyway, before Disgorge: recording {THIRD_PARTY}'s runs, a fine-tune, "
        "a distilled and a quantized model"
    )

    def history(name: str, inputs: list[str]) -> RunContext:
        return cat.run(name, use="train_ai_system", party=THIRD_PARTY, inputs=inputs, enforce=False)

    with history("detector-pretrain", [f"dataset:{photos.ref}"]) as run:
        run.log_model(_weights(models / "face-detector-v1.bin", 1), name="face-detector-v1")
        run.log_artifact(
            _weights(models / "face-embeddings.npy", 2, 0.5),
            kind="embedding",
            derived_from=[f"dataset:{photos.ref}"],
        )
    with history("age-finetune", [f"dataset:{adults.ref}", "model:face-detector-v1"]) as run:
        run.log_model(
            _weights(models / "face-age-v1.bin", 3), name="face-age-v1", parents=["face-detector-v1"]
        )
    with history("age-distill", ["model:face-age-v1"]) as run:
        run.log_model(
            _weights(models / "face-age-mobile.bin", 4, 0.25),
            name="face-age-mobile",
            parents=["face-age-v1"],
            relation="distilled_from",
        )
    with history("age-quantize", ["model:face-age-mobile"]) as run:
        run.log_model(
            _weights(models / "face-age-mobile-int8.bin", 5, 0.1),
            name="face-age-mobile-int8",
            parents=["face-age-mobile"],
            relation="quantized_from",
        )
    cat.deploy(
        "face-age-mobile-int8",
        target="https://api.facevision.example/v1/age",
        hook=f"{sys.executable} -c \"open('{home / 'takedown.log'}', 'a').write('face-age-mobile-int8 down\\n')\"",
    )

    captured: dict[str, str] = {}
    if opts.capture is not None:
        say("[7+/13] more of it, captured from three producers (OpenLineage, MLflow, Hugging Face + torch)")
        captured = capture_pipeline(
            cat,
            opts.capture,
            home,
            home / "identities" / "privacy-officer.identity",
            data / "datingsite",
            (photos.ref, research.ref),
            say,
        )

    say("[8/13] impact of the dating site's photos")
    t = time.perf_counter()
    imp = cat.impact("source", "datingsite")
    say(f"      answered in {(time.perf_counter() - t) * 1000:.0f} ms:")
    c = imp.counts()
    say(f"      {c['assets']} photos of {c['subjects']} people, {c['copies']} copies")
    lost = ", ".join(f"{d['ref']} (loses {d['loses']})" for d in imp.datasets)
    say(f"      datasets: {lost}")
    say(f"      models: {', '.join(m['name'] for m in imp.models)}")
    say(f"      derived artifacts: {', '.join(a['kind'] for a in imp.artifacts)}")
    say(f"      deployments: {', '.join(d['target'] for d in imp.deployments)}")
    say(f"      recipients: {', '.join(imp.recipients)}")
    research_touched = [m["name"] for m in imp.models if m["name"] == "research-face-v1"]
    say(f"      the consented research model is {'AFFECTED' if research_touched else 'not affected'}")
    if captured:
        found = covered(captured, imp.models)
        say(f"      captured producers in the answer: {', '.join(found) or 'NONE'} ({len(found)} of 3)")

    say("[9/13] bill of materials of the deployed model face-age-mobile-int8")
    bom = cat.lineage("face-age-mobile-int8")
    say(
        f"      {bom.asset_count} photos of {bom.subject_count} people from "
        f"{', '.join(s['name'] for s in bom.sources)}; datasets {', '.join(d['ref'] for d in bom.datasets)}"
    )
    parents = ", ".join(f"{p['name']} ({p['relation']})" for p in bom.parents)
    say(f"      parents: {parents}")
    for s in bom.sources:
        bad = [u for u, ok in s["uses_covered_by_notice"].items() if not ok]
        if bad:
            say(
                f"      the {s['name']} notice (v{s['notice_version']}, {s['legal_basis']}) does not cover: {', '.join(bad)}"
            )
    if captured:  # an MLflow logged model's copy (models:/ID) is out of reach of the storage roots
        say("[10/13] erasure: not with --capture (the MLflow model lives in MLflow); see `disgorge demo`")
    else:
        erase(cat, home, data, say)
    say(f"done in {time.perf_counter() - t0:.0f}s; explore with: disgorge --help (DISGORGE_HOME={home})")
    return cat


def _identities(home: Path) -> tuple[Identity, Identity]:
    """The two people of the story, each with a key of their own (kept in the demo home here; a real
    person's identity lives in their own ~/.config/disgorge/identity)."""
    out = []
    for name in ("privacy-officer", "legal-counsel"):
        path = home / "identities" / f"{name}.identity"
        if not path.exists():
            Identity.generate(name).save(path)
        out.append(Identity.load(path))
    return out[0], out[1]


def _recipient(cat: Catalog, home: Path) -> tuple[Identity, Path]:
    """The third party's identity and inbox: its notices arrive by a command channel the admin sets,
    bound to the key it acknowledges with (a real one would give an https:// webhook)."""
    path = home / "identities" / "facevision.identity"
    if not path.exists():
        Identity.generate("facevision").save(path)
    facevision = Identity.load(path)
    inbox = home / "facevision-inbox.json"
    copy = "import shutil, sys; shutil.copyfileobj(sys.stdin.buffer, open(sys.argv[1], 'wb'))"
    command = shlex.join([sys.executable, "-c", copy, str(inbox)])
    cat.recipients.set_channel(THIRD_PARTY, command=command, key=facevision.public_key)
    return facevision, inbox


def erase(cat: Catalog, home: Path, data: Path, say: Say) -> str:
    """The order arrives: plan, a second person approves, execute, a hidden re-encoded backup is found by
    verification, removed, and verification comes back clean; the erased photos cannot come back in."""
    cat.add_storage_root(data)
    cat.add_storage_root(home / "models")
    first = sorted((data / "datingsite").rglob("*.jpg"))[0]
    original = first.read_bytes()  # what a user will try to upload again after the erasure
    backup = data / "backup"
    backup.mkdir(exist_ok=True)
    with Image.open(first) as im:
        im.convert("RGB").resize((im.width // 2, im.height // 2)).save(
            backup / "7f3a9c.jpg", "JPEG", quality=70
        )
    say("[10/13] the FTC order: plan the erasure of the dating site's photos and everything made from them")
    plan, _ = cat.erasures.plan(
        scope=("source", "datingsite"),
        withdrawn=False,
        reason="FTC order: algorithmic disgorgement of face models trained on dating-site photos",
        legal_basis="FTC Act s.5 consent order",
        deadline="2026-12-31",
    )
    counts = ", ".join(f"{v} {k}" for k, v in plan.counts.items() if v)
    say(f"      plan {plan.id[:16]}…: {counts}")
    with open_catalog(home, identity=_identities(home)[1]) as counsel:
        counsel.erasures.approve(plan.id)
    say("      approved by legal-counsel with her own key (the requester cannot approve)")
    facevision, inbox = _recipient(cat, home)
    report = cat.erasures.run(plan.id, dry_run=False)
    say(f"[11/13] executed: {report.status}; " + ", ".join(f"{n} {s}" for s, n in report.steps.items()))
    notice = parse_notice(inbox.read_bytes())
    notice.verify([cat.proofs.identity.public_key()])
    cat.recipients.record_ack(acknowledge(facevision, notice))
    say(
        f"      {THIRD_PARTY} received notice {notice.notice_id[:16]}… (delete {notice.notice['delete']['content']['count']} "
        "photos by keyed hash, and the models) and acknowledged it with its own key"
    )
    dirty = cat.erasures.verify(plan.id, roots=[str(data)])
    for r in dirty.residual:
        say(f"      verify found a residual {r['match']} copy (distance {r['distance']}): {r['object']}")
        Path(r["object"].removeprefix("file://")).unlink()
        say("      removed it")
    clean = cat.erasures.verify(plan.id, roots=[str(data)])
    say(
        f"      verify: {'clean' if clean.clean else 'NOT CLEAN'} ({sum(clean.checked.values())} targets checked, "
        f"{clean.scanned} objects scanned)"
    )
    say("[12/13] the erased photos cannot come back in")
    again = data / "reupload" / "member-x"
    again.mkdir(parents=True, exist_ok=True)
    (again / "p.jpg").write_bytes(original)
    summary = cat.ingest(again.parent, IngestOptions(source="datingsite", subject_from="parent-dir"))
    for p in summary.problems:
        say(f"      ingest refused: {p.reason}")
    say("[13/13] the certificate of destruction, verified offline as an auditor would")
    doc = cat.certificate(plan.id)
    (home / "certificate.json").write_bytes(dump_certificate(doc))
    (home / "certificate.html").write_text(render_html(doc))
    key = cat.proofs.identity.public_key()
    check = verify_any(dump_certificate(doc), [key])
    say(
        f"      {home / 'certificate.json'} (and .html): signed by {check.signed_by}, erased-set root "
        f"{doc['erased']['merkle_root'][:16]}…, {len(check.checks)} checks passed"
    )
    say(
        f"      auditor: disgorge certificate verify {home / 'certificate.json'} --key KEY "
        "(KEY from `disgorge key export-public`)"
    )
    return plan.id
