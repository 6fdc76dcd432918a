"""The HTML certificate: self-contained, every string escaped, one chart bar per non-zero kind."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disgorge.certificate.render import CHART_KINDS, render_html
from disgorge.errors import InputError
from disgorge.ledger.certificate import COUNT_KINDS, load_certificate

HERE = Path(__file__).resolve().parents[1] / "assets" / "certificates"
GOOD = load_certificate((HERE / "certificate-good.json").read_bytes())
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "span", "code", "pre",
    "table", "tr", "th", "td", "svg", "text", "rect",
}  # fmt: skip
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def _bars(page: str) -> list[dict[str, str | None]]:
    return [attrs for tag, attrs in _tags(page) if tag == "rect" and attrs.get("class") == "bar"]


def _doc(**counts: int) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    doc["counts"].update(counts)
    return doc


def test_the_page_says_what_why_when_who_and_how_to_verify() -> None:
    page = render_html(GOOD)
    o = GOOD["order"]
    for text in (
        o["plan_id"],
        "Subject withdrew consent and asked for deletion (Art. 17 GDPR)",
        "GDPR Art. 17(1)(b)",
        "alice@example.com",
        "dpo@example.com",
        "05 March 2025, 08:00:00 UTC",
        "2025-04-02 (met)",
        "face-embedder-v3",
        GOOD["erased"]["merkle_root"],
        GOOD["signature"]["key"].split("+")[1],
        "8 entries, root ",
        "disgorge certificate verify cert.json --key KEY",
        "RFC 9162",
        "C2SP tlog-checkpoint",
    ):
        assert text in page, text
    for heading in ("What was erased", "Why", "When", "Who", "Proof"):
        assert f"<h2>{heading}" in page


def test_the_page_is_self_contained() -> None:
    page = render_html(GOOD)
    tags = _tags(page)
    assert {tag for tag, _ in tags} <= ALLOWED_TAGS
    for _tag, attrs in tags:
        assert not {"src", "href", "action", "srcset"} & set(attrs)
        assert not any(name.startswith("on") for name in attrs)
    for needle in ("<script", "url(", "@import", "<link", "https://"):
        assert needle not in page
    assert "default-src 'none'" in page


def test_hostile_strings_are_escaped() -> None:
    doc = copy.deepcopy(GOOD)
    doc["order"]["reason"] = HOSTILE
    doc["order"]["legal_basis"] = HOSTILE
    doc["order"]["requester"] = HOSTILE
    doc["order"]["approvers"] = [HOSTILE, "</td></tr></table><script>x()</script>"]
    doc["order"]["scope"]["value"] = HOSTILE
    doc["models"][0]["name"] = "</svg><script>steal()</script>"
    doc["verification"]["roots"] = [HOSTILE]
    doc["ledger"]["origin"] = HOSTILE
    page = render_html(doc)
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert {tag for tag, _ in _tags(page)} <= ALLOWED_TAGS
    assert all(not any(name.startswith("on") for name in attrs) for _, attrs in _tags(page))


def test_the_chart_has_one_bar_per_non_zero_kind() -> None:
    page = render_html(GOOD)
    expected = [k for k in CHART_KINDS if GOOD["counts"][k] > 0]
    assert len(_bars(page)) == len(expected) == 7
    widths = [int(str(b["width"])) for b in _bars(page)]
    assert max(widths) == 330  # the largest kind (9 copies) spans the full width
    assert widths[list(expected).index("copies")] == 330


@settings(max_examples=50, deadline=None)
@given(st.fixed_dictionaries({k: st.integers(0, 10**12) for k in COUNT_KINDS}))
def test_bar_count_matches_non_zero_kinds(counts: dict[str, int]) -> None:
    page = render_html(_doc(**counts))
    assert len(_bars(page)) == sum(1 for k in CHART_KINDS if counts[k] > 0)
    assert all(2 <= int(str(b["width"])) <= 330 for b in _bars(page))


def test_nothing_counted_draws_no_chart() -> None:
    page = render_html(_doc(**dict.fromkeys(COUNT_KINDS, 0)))
    assert "<svg" not in page
    assert "Nothing was counted." in page


def test_a_missed_deadline_and_a_draft_are_shown() -> None:
    doc = copy.deepcopy(GOOD)
    doc["order"]["deadline"] = "2025-03-04T00:00:00Z"
    del doc["signature"]
    page = render_html(doc)
    assert "MISSED" in page
    assert "NOT SIGNED" in page


def test_malformed_certificate_is_an_input_error() -> None:
    doc = copy.deepcopy(GOOD)
    del doc["counts"]["models"]
    with pytest.raises(InputError, match="counts lacks models"):
        render_html(doc)
