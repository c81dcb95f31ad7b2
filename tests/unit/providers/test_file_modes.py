"""A file or folder mode given as octal text is the same mode as the number."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile.providers import Directory, File

modes = st.integers(min_value=0, max_value=0o7777)


@given(mode=modes, spelling=st.sampled_from(["{:o}", "0{:o}", "0o{:o}", "0O{:o}", " {:04o}\n"]))
def test_octal_text_is_the_mode_it_spells(mode: int, spelling: str) -> None:
    text = spelling.format(mode)
    assert File("f", content="", mode=text) == File("f", content="", mode=mode)  # type: ignore[arg-type]
    made = Directory("d", mode=text)  # type: ignore[arg-type]
    assert made.mode == mode
    assert type(made.mode) is int


def _spells_digits(text: str) -> bool:
    digits = text.strip()
    digits = digits[2:] if digits[:2] in ("0o", "0O") else digits
    return digits.isascii() and digits.isdigit()


@given(text=st.text(max_size=6).filter(lambda t: not _spells_digits(t)))
def test_text_that_is_not_octal_is_refused_naming_the_resource(text: str) -> None:
    with pytest.raises(rc.InvalidStateError, match=r"^file\[f\]: mode .* is not a file mode"):
        File("f", content="", mode=text)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["8", "0999", "0o8", "10000", "0o17777"])
def test_digits_beyond_octal_or_past_0o7777_are_refused(text: str) -> None:
    with pytest.raises(rc.InvalidStateError, match=r"^directory\[d\]: mode .* is not a file mode"):
        Directory("d", mode=text)  # type: ignore[arg-type]


def test_a_bool_is_not_a_mode() -> None:
    with pytest.raises(rc.InvalidStateError, match="True is not a file mode"):
        File("f", content="", mode=True)
