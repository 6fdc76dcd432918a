"""A certificate of destruction as one self-contained HTML page that a lawyer can read.

What was erased, why, when, who asked and approved, and the proof, with an inline SVG chart of what
was erased by kind. The page is a rendering, not the evidence: the signed JSON is, and the page says
how to check it offline. It loads nothing (inline CSS, no script, a Content-Security-Policy that
forbids fetches) and escapes every string taken from the certificate, so a hostile reason or name
cannot inject markup. Pure: a certificate dict in, HTML text out.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from disgorge.errors import InputError, VerificationFailed
from disgorge.ledger.certificate import FORMAT as V1
from disgorge.ledger.certificate import check_format
from disgorge.ledger.note import Checkpoint

__all__ = ["CHART_KINDS", "render_html"]

CHART_KINDS = {
    "assets": "Assets (photos, records)",
    "copies": "Stored copies",
    "table_rows": "Table rows",
    "derived_artifacts": "Derived artifacts",
    "dataset_versions": "Dataset versions rebuilt",
    "models": "Models destroyed",
    "deployments": "Deployments taken down",
    "recipients_notified": "Recipients notified",
}
"""The counts charted, with their labels; ``subjects`` is who, not what, so it is stated in words."""

_CSS = """
body{font:16px/1.5 Georgia,'Times New Roman',serif;color:#1b1b1b;max-width:820px;margin:2em auto;padding:0 1em}
h1{font-size:1.7em;margin-bottom:.2em}h2{font-size:1.2em;border-bottom:1px solid #bbb;margin-top:1.8em}
.lede{font-size:1.1em}.muted{color:#555}.ok{color:#155724;font-weight:bold}.bad{color:#8b0000;font-weight:bold}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;
vertical-align:top}th{width:32%;font-weight:normal;color:#444}code,pre{font:13px/1.4 Menlo,Consolas,monospace;
word-break:break-all;white-space:pre-wrap}pre{background:#f4f4f4;padding:.7em}.bar{fill:#3a5a80}
svg text{font:13px sans-serif;fill:#1b1b1b}@media print{body{margin:0}}
"""
_ROW, _LABEL_W, _BAR_W = 28, 210, 330


def render_html(doc: Mapping[str, Any]) -> str:
    """The HTML page for a certificate (signed or not); InputError if it is not a well-formed one."""
    if doc.get("format") == V1:
        check_format(doc)
    else:
        from disgorge.certificate import v2

        v2._parse(doc, InputError, signed="signature" in doc)
    o, c, v = doc["order"], doc["counts"], _coverage(doc["verification"])
    title = f"Certificate of destruction {o['plan_id']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f'<h1>Certificate of destruction</h1><p class="muted">Plan <code>{_e(o["plan_id"])}</code></p>',
        _summary(doc),
        "<h2>What was erased</h2>",
        _chart(c),
        _table(
            [(CHART_KINDS[k], f"{c[k]:,}") for k in CHART_KINDS]
            + [("People (subjects)", f"{c['subjects']:,}")]
        ),
        _models(doc["models"]),
        "<h2>Why</h2>",
        _table(
            [
                ("Reason", o["reason"]),
                ("Legal basis", o["legal_basis"]),
                ("Scope", f"{o['scope']['kind']}: {o['scope']['value']}"),
            ]
        ),
        '<p class="muted">The person is named by a keyed pseudonym, never in clear.</p>'
        if o["scope"]["kind"] == "subject"
        else "",
        "<h2>When</h2>",
        _timeline(o),
        "<h2>Who</h2>",
        _table(
            [("Requested by", o["requester"]), *(("Approved by", a) for a in o["approvers"])]
            + (
                [("Signatures", "each person signed with their own key (see Proof)")]
                if doc.get("catalog")
                else []
            )
        ),
        _recipients(doc.get("recipients", [])),
        "<h2>Checked after erasure</h2>",
        _table(
            [
                ("Result", "clean: nothing left" if v["clean"] else "NOT CLEAN"),
                ("Targets checked", f"{v['targets_checked']:,}"),
                ("Objects scanned for copies", f"{v['objects_scanned']:,}"),
                ("Places scanned", ", ".join(v["roots"]) or "NONE: no residual scan ran"),
                ("Residual copies found", f"{v['residual']:,}"),
                ("Targets remaining", f"{v['remaining']:,}"),
            ]
        ),
        "<h2>Proof</h2>",
        _proof(doc),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _coverage(v: Mapping[str, Any]) -> dict[str, Any]:
    """v1 and v2 verification members in one shape (v2 lists each scan)."""
    if "scans" not in v:
        return dict(v)
    return {
        **v,
        "objects_scanned": sum(s["objects"] for s in v["scans"]),
        "roots": sorted({r for s in v["scans"] for r in s["roots"]}),
    }


def _recipients(items: list[Mapping[str, Any]]) -> str:
    if not items:
        return ""
    rows = "".join(
        f"<tr><td>{_e(r['party'])}</td><td>{_e(_when(r['written_at']) if r['written_at'] else '-')}</td>"
        f"<td>{_e(_when(r['delivered_at']) + ' by ' + str(r.get('channel')) if r['delivered_at'] else 'not delivered')}</td>"
        f"<td>{_e(_when(r['acknowledged_at']) + _by(r) if r['acknowledged_at'] else 'not acknowledged')}</td></tr>"
        for r in items
    )
    return (
        "<h3>Recipients told to delete</h3><table><tr><th>Recipient</th><th>Notice written</th>"
        f"<th>Delivered</th><th>Acknowledged</th></tr>{rows}</table>"
    )


def _by(r: Mapping[str, Any]) -> str:
    return f" by {r['acknowledged_by']}, with the key bound to it" if r.get("acknowledged_by") else ""


def _summary(doc: Mapping[str, Any]) -> str:
    o, c, v = doc["order"], doc["counts"], _coverage(doc["verification"])
    clean = (
        f'<span class="ok">no copy remained</span> among {v["objects_scanned"]:,} objects scanned'
        if v["clean"]
        else '<span class="bad">the check after erasure was not clean</span>'
    )
    return (
        f'<p class="lede">On {_e(_when(o["completed_at"]))}, the erasure requested by {_e(o["requester"])} '
        f"and approved by {_e(', '.join(o['approvers']))} was completed: {_n(c['assets'], 'asset')} "
        f"concerning {_n(c['subjects'], 'person', 'people')}, {_n(c['copies'], 'stored copy', 'stored copies')} "
        f"and {_n(c['models'], 'model')} trained on them were destroyed; {clean}. "
        f"Reason: {_e(o['reason'])} (legal basis: {_e(o['legal_basis'])}).</p>"
    )


def _chart(counts: Mapping[str, int]) -> str:
    """Horizontal bars, one per non-zero kind, linear in the count, with the exact number beside each."""
    rows = [(label, counts[k]) for k, label in CHART_KINDS.items() if counts[k] > 0]
    if not rows:
        return "<p>Nothing was counted.</p>"
    top = max(n for _, n in rows)
    height = _ROW * len(rows) + 8
    out = [
        f'<svg role="img" aria-labelledby="chart-title" width="700" height="{height}" '
        f'viewBox="0 0 700 {height}"><title id="chart-title">What was erased, by kind</title>'
    ]
    for i, (label, n) in enumerate(rows):
        y, width = i * _ROW + 4, max(2, round(_BAR_W * n / top))
        out.append(
            f'<text x="0" y="{y + 14}">{_e(label)}</text>'
            f'<rect class="bar" x="{_LABEL_W}" y="{y}" width="{width}" height="18"></rect>'
            f'<text x="{_LABEL_W + width + 6}" y="{y + 14}">{n:,}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _models(models: list[Mapping[str, Any]]) -> str:
    if not models:
        return "<p>No model was trained on the erased data.</p>"
    rows = "".join(
        f"<tr><td>{_e(m['name'] or '(unnamed)')}</td><td><code>{_e(m['sha256'])}</code></td>"
        f"<td>{_e(m['disposition'])}{_retrained(m.get('detail'))}</td><td>{m['copies']:,}</td></tr>"
        for m in models
    )
    return (
        "<h3>Models</h3><table><tr><th>Model</th><th>SHA-256 of its weights</th><th>Disposition</th>"
        f"<th>Copies</th></tr>{rows}</table>"
    )


def _retrained(d: Mapping[str, Any] | None) -> str:
    """What a retrain made of the model: its new weights, and which shards or slices were retrained."""
    if not d or "new_sha256" not in d:
        return ""
    what = (
        f"shard {d['shard']}, slices {', '.join(map(str, d.get('slices_retrained', [])))}"
        if d.get("role") == "sisa_shard"
        else f"shards {', '.join(map(str, d.get('shards_retrained', [])))}; torch {d.get('torch')}"
    )
    return (
        f"<br>as <b>{_e(str(d.get('new_model')))}</b> ({_e(what)}), new weights "
        f"<code>{_e(str(d['new_sha256']))}</code>"
    )


def _timeline(o: Mapping[str, Any]) -> str:
    rows = [(label, _when(o[key])) for key, label in _TIMELINE_LABELS]
    deadline = o["deadline"]
    if deadline is None:
        rows.insert(0, ("Deadline", "none set"))
    else:
        met = _met(deadline, o["completed_at"])
        rows.insert(0, ("Deadline", f"{_when(deadline)} ({'met' if met else 'MISSED'})"))
    return _table(rows)


_TIMELINE_LABELS = (
    ("planned_at", "Planned"),
    ("approved_at", "Approved"),
    ("completed_at", "Completed"),
    ("verified_at", "Verified clean"),
    ("issued_at", "Certificate issued"),
)


def _proof(doc: Mapping[str, Any]) -> str:
    led, erased, sig = doc["ledger"], doc["erased"], doc.get("signature")
    try:
        head: Checkpoint | None = Checkpoint.parse(led["checkpoint"][: led["checkpoint"].rfind("\n\n") + 1])
    except VerificationFailed:
        head = None
    signer = sig["key"].split("+") if sig else None
    rows = [
        (
            "Signed by",
            f"key {signer[0]} (key ID {signer[1]}), Ed25519" if signer else "NOT SIGNED: this is a draft",
        ),
        ("Public key", sig["key"] if sig else "none"),
        ("Erased set", f"{erased['count']:,} assets, Merkle root (RFC 9162) {erased['merkle_root']}"),
        ("Ledger", led["origin"]),
        (
            "Ledger checkpoint",
            f"{head.size:,} entries, root {head.root_hash.hex()}" if head else "unreadable checkpoint",
        ),
        *(
            (f"{name.capitalize()} event", f"ledger entry {e['index']:,}")
            for name, e in led.get("events", {}).items()
        ),
        *(
            (f"{e['role'].capitalize()} statement", f"ledger entry {e['index']:,}")
            for e in led.get("entries", [])
            if e["role"] != "roster"
        ),
    ]
    return (
        _table(rows)
        + "<p>The signed JSON file, not this page, is the evidence. Anyone can check it offline, without "
        "access to the operator's systems: it is signed with Ed25519, the ledger checkpoint is a signed "
        "note (C2SP tlog-checkpoint), and the plan, approval and completion are proven to be in that "
        "ledger by Merkle inclusion proofs (RFC 9162). With the operator's public key saved as "
        "<code>KEY</code> (from <code>disgorge key export-public &gt; KEY</code>), run:</p>"
        "<pre>disgorge certificate verify cert.json --key KEY</pre>"
        "<p>A person can check that their own data is in the erased set with the proof the operator gives "
        "them: <code>disgorge certificate verify cert.json --key KEY --asset-proof FILE</code>.</p>"
        f"<h3>Ledger checkpoint as signed</h3><pre>{_e(led['checkpoint'])}</pre>"
    )


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _when(value: str) -> str:
    """A timestamp as people read it (UTC offset kept); a bare date as is."""
    if len(value) == 10:
        return value
    t = datetime.fromisoformat(value)
    offset = "UTC" if t.utcoffset() is not None and not t.utcoffset() else t.strftime("UTC%z")
    return f"{t:%d %B %Y, %H:%M:%S} {offset}"


def _met(deadline: str, completed_at: str) -> bool:
    done = datetime.fromisoformat(completed_at)
    if len(deadline) == 10:
        return done.date() <= date.fromisoformat(deadline)
    return done <= datetime.fromisoformat(deadline)


def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)
