"""OpenLineage events shaped like those Airflow, Spark and dbt emit (our own fixtures, written after
reading their integrations), and a JSON Schema validator for the 2-0-2 spec in ../shared/openlineage."""

from __future__ import annotations

import copy
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

SPEC = Path(__file__).resolve().parents[3] / "shared" / "openlineage" / "spec"
if not SPEC.exists():
    SPEC = Path("/work/shared/openlineage/spec")
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
AIRFLOW = "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0"
SPARK = "https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/spark"
DBT = "https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/dbt"


def facet(producer: str, schema: str, **body: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": f"https://openlineage.io/spec/facets/{schema}", **body}


def event(
    etype: str,
    run_id: str,
    job: tuple[str, str],
    *,
    time: str = "2026-12-01T10:00:00.000Z",
    producer: str = AIRFLOW,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    run_facets: dict[str, Any] | None = None,
    job_facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "eventType": etype,
        "eventTime": time,
        "producer": producer,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id, "facets": run_facets or {}},
        "job": {"namespace": job[0], "name": job[1], "facets": job_facets or {}},
        "inputs": inputs or [],
        "outputs": outputs or [],
    }


def airflow_task(
    run_id: str, etype: str, *, time: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The Airflow provider: job ``dag_id.task_id`` in namespace ``default``, a parent facet naming the
    DAG run, nominalTime, processing_engine, jobType TASK, and its own ``airflow`` facets."""
    p = AIRFLOW
    return event(
        etype,
        run_id,
        ("default", "photo_pipeline.copy_photos"),
        time=time,
        producer=p,
        inputs=inputs,
        outputs=outputs,
        run_facets={
            "nominalTime": facet(
                p, "1-0-1/NominalTimeRunFacet.json", nominalStartTime="2026-12-01T10:00:00Z"
            ),
            "parent": facet(
                p,
                "1-1-0/ParentRunFacet.json",
                run={"runId": "01890000-0000-7000-8000-000000000001"},
                job={"namespace": "default", "name": "photo_pipeline"},
            ),
            "processing_engine": facet(
                p, "1-1-1/ProcessingEngineRunFacet.json", version="2.10.3", name="Airflow"
            ),
            "airflow": facet(p, "1-0-0/AirflowRunFacet.json", dag={"dag_id": "photo_pipeline"}, task={}),
        },
        job_facets={
            "jobType": facet(
                p, "2-0-3/JobTypeJobFacet.json", processingType="BATCH", integration="AIRFLOW", jobType="TASK"
            )
        },
    )


def airflow_pair(run_id: str, reads: str, writes: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One Airflow task run that read the folder ``reads`` and wrote the file ``writes``: its START, then
    its COMPLETE."""
    return (
        airflow_task(run_id, "START", time="2026-12-01T11:00:00Z", inputs=[ds("file", reads)], outputs=[]),
        airflow_task(
            run_id, "COMPLETE", time="2026-12-01T11:30:00Z", inputs=[], outputs=[ds("file", writes)]
        ),
    )


def spark_job(
    run_id: str, etype: str, *, time: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The Spark listener: job ``app.execute_insert_into_hadoop_fs_relation_command.path``, spark_properties,
    processing_engine with the adapter version, schema and dataSource dataset facets, outputStatistics."""
    p = SPARK
    for d in inputs + outputs:
        d.setdefault("facets", {})["dataSource"] = facet(
            p, "1-0-1/DatasourceDatasetFacet.json", name=d["namespace"], uri=d["namespace"]
        )
        d["facets"]["schema"] = facet(
            p, "1-1-1/SchemaDatasetFacet.json", fields=[{"name": "path", "type": "string"}]
        )
    for d in outputs:
        d.setdefault("outputFacets", {})["outputStatistics"] = facet(
            p, "1-0-2/OutputStatisticsOutputDatasetFacet.json", rowCount=9, size=4096
        )
    return event(
        etype,
        run_id,
        ("spark_namespace", "face_features.execute_insert_into_hadoop_fs_relation_command.features"),
        time=time,
        producer=p,
        inputs=inputs,
        outputs=outputs,
        run_facets={
            "spark_properties": facet(
                p, "1-0-0/SparkPropertiesFacet.json", properties={"spark.master": "local[2]"}
            ),
            "processing_engine": facet(
                p,
                "1-1-1/ProcessingEngineRunFacet.json",
                version="3.5.1",
                name="spark",
                openlineageAdapterVersion="1.23.0",
            ),
        },
        job_facets={
            "jobType": facet(
                p,
                "2-0-3/JobTypeJobFacet.json",
                processingType="BATCH",
                integration="SPARK",
                jobType="SQL_JOB",
            )
        },
    )


def dbt_model(
    run_id: str, etype: str, *, time: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]
) -> dict[str, Any]:
    """dbt-ol: job ``project.model.NAME`` in namespace ``dbt``, the sql job facet, a parent naming the dbt
    invocation, tables in ``postgres://host:port`` named ``db.schema.table``."""
    p = DBT
    return event(
        etype,
        run_id,
        ("dbt", "jaffle_shop.model.jaffle_shop.member_photos"),
        time=time,
        producer=p,
        inputs=inputs,
        outputs=outputs,
        run_facets={
            "parent": facet(
                p,
                "1-1-0/ParentRunFacet.json",
                run={"runId": "01890000-0000-7000-8000-0000000000db"},
                job={"namespace": "dbt", "name": "dbt-run-jaffle_shop"},
            ),
            "dbt_version": facet(p, "1-0-0/DbtVersionRunFacet.json", version="1.8.2"),
        },
        job_facets={
            "sql": facet(p, "1-1-0/SQLJobFacet.json", query="select * from raw.photos", dialect="postgres"),
            "jobType": facet(
                p, "2-0-3/JobTypeJobFacet.json", processingType="BATCH", integration="DBT", jobType="MODEL"
            ),
        },
    )


def ds(namespace: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"namespace": namespace, "name": name, **extra}


def new_id() -> str:
    return str(uuid.uuid4())


@cache
def _registry() -> Any:
    from referencing import Registry, Resource

    reg: Any = Registry()
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]:
        doc = json.loads(path.read_text())
        reg = reg.with_resource(doc["$id"], Resource.from_contents(doc))
    return reg


@cache
def _facet_schemas() -> dict[str, dict[str, Any]]:
    """Facet key (``parent``, ``version``, ``subset``...) -> the schema of the file that defines it."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((SPEC / "facets").glob("*.json")):
        doc = json.loads(path.read_text())
        for key in doc.get("properties", {}):
            out.setdefault(key, doc)
    return out


def schema_errors(doc: dict[str, Any]) -> list[str]:
    """Every way an event breaks the 2-0-2 RunEvent schema, and each facet the schema of its own facet."""
    import jsonschema

    reg = _registry()
    run_event = {"$ref": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft202012Validator(run_event, registry=reg, format_checker=checker).iter_errors(
            doc
        )
    ]
    places = [doc.get("run", {}).get("facets", {}), doc.get("job", {}).get("facets", {})]
    for d in doc.get("inputs", []) + doc.get("outputs", []):
        places += [d.get("facets", {}), d.get("inputFacets", {}), d.get("outputFacets", {})]
    for facets in places:
        for key, value in facets.items():
            schema = _facet_schemas().get(key)
            if schema is None:
                continue
            validator = jsonschema.Draft202012Validator(schema, registry=reg, format_checker=checker)
            errors += [f"{key}: {e.message}" for e in validator.iter_errors({key: value})]
    return errors


def spec_example_facets() -> list[tuple[str, str, dict[str, Any]]]:
    """The spec's own example facets (spec/tests/FACET/N.json): (where it goes, file name, facets)."""
    out = []
    for path in sorted((SPEC / "tests").glob("*/*.json")):
        schema_file = SPEC / "facets" / f"{path.parent.name}.json"
        text = schema_file.read_text() if schema_file.exists() else ""
        body = json.loads(path.read_text())
        if "#/$defs/InputDatasetFacet" in text and "#/$defs/OutputDatasetFacet" in text:
            where = "input" if "inputCondition" in json.dumps(body) else "output"
        elif "#/$defs/InputDatasetFacet" in text:
            where = "input"
        elif "#/$defs/OutputDatasetFacet" in text:
            where = "output"
        elif "#/$defs/RunFacet" in text:
            where = "run"
        elif "#/$defs/JobFacet" in text:
            where = "job"
        else:
            where = "dataset"
        out.append((where, f"{path.parent.name}/{path.name}", body))
    return out


def with_facets(base: dict[str, Any], where: str, facets: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    if where == "run":
        doc["run"]["facets"].update(facets)
    elif where == "job":
        doc["job"]["facets"].update(facets)
    elif where == "input":
        doc["inputs"].append(ds("s3://spec-bucket", "in/data", inputFacets=facets))
    elif where == "output":
        doc["outputs"].append(ds("s3://spec-bucket", "out/data", outputFacets=facets))
    else:
        doc["inputs"].append(ds("s3://spec-bucket", "in/data", facets=facets))
    return doc
