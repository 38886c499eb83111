import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlcd.errors import InvalidNameError
from mlcd.names import Ref, parse_ref, validate_name


@pytest.mark.parametrize("name", ["sales", "Sales_2024", "a", "a.b-c", "9lives"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "../x", "/abs", "a/b", "a\\b", ".hidden", "a..b", "x" * 129])
def test_names_that_could_escape_the_store_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_name(name)


def test_parse_refs() -> None:
    assert parse_ref("sales@3") == Ref("sales", 3)
    assert parse_ref("sales@latest") == Ref("sales", "latest")
    assert parse_ref("sales") == Ref("sales", "latest")


@pytest.mark.parametrize("text", ["sales@", "sales@x", "sales@0", "@3", "sales@-1", "sales@1@2"])
def test_malformed_refs(text: str) -> None:
    with pytest.raises(InvalidNameError) as exc:
        parse_ref(text)
    assert exc.value.hint


@given(st.text(max_size=40))
def test_a_valid_name_never_contains_a_path_separator_or_parent(text: str) -> None:
    try:
        name = validate_name(text)
    except InvalidNameError:
        return
    assert "/" not in name and "\\" not in name and ".." not in name and not name.startswith(".")
