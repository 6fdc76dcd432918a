"""A model trained on erased photos and kept on S3 (a real SeaweedFS): its object is deleted and its bytes
leave the store's volume files too. Compaction used to run with the data's deletions, before the models
were destroyed, so a model's bytes stayed on disk until some later vacuum."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import disgorge
from disgorge.ingest import IngestOptions
from tests.conftest import PEOPLE, accept_notices, approve, claim, use_s3, write_photo
from tests.storage.seaweed import Seaweed


def test_models_on_s3_are_compacted_away_with_the_data(tmp_path: Path, seaweed: Seaweed) -> None:
    rng = random.Random(7)
    bucket = f"models-{rng.getrandbits(32):08x}"
    s3 = seaweed.client()
    s3.create_bucket(Bucket=bucket)
    for who in ("victim", "other"):
        for k in range(3):
            write_photo(tmp_path / "photos" / who / f"p{k}.jpg", who, 100 * len(who) + k)
    trained, kept = rng.randbytes(4096), rng.randbytes(4096)
    s3.put_object(Bucket=bucket, Key="models/victim-net.pt", Body=trained)
    s3.put_object(Bucket=bucket, Key="models/other-net.pt", Body=kept)
    home = tmp_path / "home"
    home.mkdir()
    use_s3(home, seaweed)
    with disgorge.open(home, identity=PEOPLE["ann"]) as cat:
        claim(cat, PEOPLE)
        cat.add_source("site", notice=b"n", uses=["essential.service"], recipients=["site"])
        accept_notices(cat, "site")
        cat.add_storage_root(tmp_path / "photos")
        cat.ingest(tmp_path / "photos", IngestOptions(source="site", subject_from="parent-dir", workers=1))
        for who, body in (("victim", trained), ("other", kept)):
            (tmp_path / f"{who}.txt").write_text(
                "path\n" + "".join(f"{tmp_path}/photos/{who}/p{k}.jpg\n" for k in range(3))
            )
            cat.create_dataset(who, manifest=tmp_path / f"{who}.txt")
            with cat.run(
                f"train-{who}",
                use="essential.service",
                party="site",
                inputs=[f"dataset:{who}"],
                enforce=False,
            ) as run:
                run.log_output(
                    kind="model",
                    uri=f"s3://{bucket}/models/{who}-net.pt",
                    sha256=hashlib.sha256(body).hexdigest(),
                    size=len(body),
                    name=f"{who}-net",
                )
        plan, _ = cat.erasures.plan(scope=("subject", "victim"), withdrawn=False, reason="r", legal_basis="b")
        targets = {(t.kind, t.uri) for t in cat.store.targets(plan.id)}
        assert ("model_copy", f"s3://{bucket}/models/victim-net.pt") in targets
        assert ("storage_compact", f"s3://{bucket}") in targets
        approve(cat, plan.id)
        report = cat.erasures.run(plan.id, dry_run=False)
        assert report.status == "done", report.problems
        assert cat.erasures.verify(plan.id).clean
    left = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert left == {"models/other-net.pt"}
    volumes = seaweed.volume_bytes()
    assert trained not in volumes  # compacted after the model was destroyed
    assert kept in volumes
