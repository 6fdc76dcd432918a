from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from disgorge.catalog.where import compile_where
from disgorge.errors import InputError

ROW = {
    "source": "site",
    "categories": ["user.content.self_image"],
    "meta": {"age": 31, "city": "Austin"},
    "media_type": "image/jpeg",
    "width": 640,
    "height": 480,
    "size": 1000,
    "quality": 90,
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("meta.age >= 30", True),
        ("meta.age < 30", False),
        ("meta.city = Austin and width > 600", True),
        ("meta.city = 'Austin'", True),
        ("meta.city != Austin", False),
        ("category has user.content", True),
        ("category has user.biometric", False),
        ("meta.missing = 1", False),
        ("source = site AND quality >= 50", True),
    ],
)
def test_where(expr: str, expected: bool) -> None:
    assert compile_where(expr)(ROW) is expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "is empty"),
        ("colour = red", "unknown field"),
        ("width", "cannot read clause"),
        ("width has 3", "category has"),
    ],
)
def test_bad_where_is_an_input_error(expr: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        compile_where(expr)


@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_numeric_comparisons_match_python(a: int, b: int) -> None:
    row = {**ROW, "meta": {"n": a}}
    assert compile_where(f"meta.n >= {b}")(row) is (a >= b)
    assert compile_where(f"meta.n < {b}")(row) is (a < b)
