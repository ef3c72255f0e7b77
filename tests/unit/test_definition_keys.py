"""Keys that become MongoDB field names (Activity extensions, language tags) are escaped
reversibly: no `.`, no `$` and no NUL, which BSON field names cannot hold at all."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lrs.adapters.mongo_definitions import decode_key, definition_of, definition_sets, encode_key


@given(st.text())
def test_any_key_round_trips_and_is_a_valid_field_name(key: str) -> None:
    field = encode_key(key)
    assert not {".", "$", "\x00"} & set(field)
    assert decode_key(field) == key


def test_existing_field_names_keep_their_encoding() -> None:
    assert encode_key("http://example.com/a.b$c%") == "http://example%2Ecom/a%2Eb%24c%25"


def test_nul_in_an_extension_key_never_reaches_a_field_name() -> None:
    definition = {"extensions": {"https://e.x/\x00k": 1, "https://e.x/$k.": {"$a.b": 2}}}
    sets = definition_sets(definition)
    assert all("\x00" not in path and "$" not in path for path in sets)
    stored = {"extensions": {path.split(".", 1)[1]: value for path, value in sets.items()}}
    assert definition_of(stored) == definition
