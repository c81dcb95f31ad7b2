"""Hypothesis strategies shared by the test suite.

``json_documents()`` draws arbitrary JSON documents, with the object keys that
trip JSON Pointer encoders up (``/``, ``~``, ``""``, numeric-looking keys, ``-``)
and the scalars that plain ``==`` confuses (``True``/``1``/``1.0``).
``json_document_pairs()`` draws a document and a mutation of it, so the two
share most of their structure and differ deep inside, as desired and actual do.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["json_document_pairs", "json_documents", "json_keys", "json_scalars"]

#: Object keys that JSON Pointer encoding and array-index parsing get wrong.
TRICKY_KEYS = (
    "",
    "/",
    "~",
    "~0",
    "~1",
    "~01",
    "a/b",
    "m~n",
    "/~",
    "__x",
    "__init__",
    "0",
    "1",
    "01",
    "1e0",
    "-",
    "-1",
    " ",
    "root",
    "[0]",
    "['a']",
    "é",
)


def json_keys() -> st.SearchStrategy[str]:
    """Object keys: mostly tricky ones, sometimes arbitrary text."""
    return st.one_of(st.sampled_from(TRICKY_KEYS), st.text(max_size=6))


def json_scalars() -> st.SearchStrategy[Any]:
    """null, booleans, integers, finite floats and strings (tricky ones included)."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([0, 1, -1, 0.0, 1.0, -1.0, True, False]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(TRICKY_KEYS),
        st.text(max_size=8),
    )


def json_documents(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Arbitrary JSON documents: scalars, lists and objects, nested."""
    return st.recursive(
        json_scalars(),
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.dictionaries(json_keys(), children, max_size=5),
        ),
        max_leaves=max_leaves,
    )


def _flip_type(value: Any) -> Any:
    """A value that ``==`` may call equal to ``value`` but is not the same JSON."""
    if value is True:
        return 1
    if value is False:
        return 0.0
    if type(value) is int:
        return float(value) if abs(value) < 2**53 else str(value)
    if type(value) is float:
        return int(value) if value.is_integer() and abs(value) < 2**53 else [value]
    if value is None:
        return False
    if isinstance(value, str):
        return [value]
    return None


@st.composite
def _mutate(draw: st.DrawFn, doc: Any, depth: int = 0) -> Any:
    """A copy of ``doc`` with a few changes, deep or shallow."""
    action = draw(st.sampled_from(["keep", "keep", "recurse", "recurse", "flip", "fresh"]))
    if action == "keep" or depth > 6:
        return doc
    if action == "fresh":
        return draw(json_documents(max_leaves=5))
    if action == "flip":
        return _flip_type(doc)
    if isinstance(doc, list):
        items = [draw(_mutate(item, depth + 1)) for item in doc]
        shape = draw(st.sampled_from(["same", "same", "shrink", "grow"]))
        if shape == "shrink" and items:
            del items[draw(st.integers(0, len(items) - 1)) :]
        elif shape == "grow":
            items.extend(draw(st.lists(json_scalars(), min_size=1, max_size=10)))
        return items
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            if draw(st.integers(0, 5)) == 0:
                continue  # drop the key
            out[key] = draw(_mutate(value, depth + 1))
        out.update(draw(st.dictionaries(json_keys(), json_documents(max_leaves=4), max_size=2)))
        return out
    return _flip_type(doc)


@st.composite
def json_document_pairs(draw: st.DrawFn) -> tuple[Any, Any]:
    """``(doc, variant)``: a document and a (possibly identical) mutation of it."""
    doc = draw(json_documents())
    variant = draw(_mutate(doc))
    if draw(st.booleans()):
        return doc, variant
    return variant, doc
