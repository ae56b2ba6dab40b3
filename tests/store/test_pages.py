"""The kernel's page tokens and page sizes, and the server's offset tokens built on them."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from cycleml.errors import InvalidInput
from cycleml.server._routes import decode_offset_token, encode_offset_token
from cycleml.store import MAX_PAGE, check_page_size, decode_page_token, encode_page_token


def _pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and type(value[0]) is int


@pytest.mark.parametrize("value", [[0, "a"], [2**62, "x" * 32], [[1, "k"], None], {"offset": 9}])
def test_a_token_gives_back_its_value(value: Any) -> None:
    token = encode_page_token(value)
    assert not set("=+/") & set(token)  # URL-safe, unpadded
    assert decode_page_token(token, lambda _: True) == value


def test_no_token_is_the_first_page() -> None:
    assert decode_page_token(None, _pair) is None
    assert decode_page_token("", _pair) is None


def test_a_padded_token_is_accepted() -> None:
    padded = base64.urlsafe_b64encode(json.dumps([3, "b"]).encode()).decode()
    assert padded.endswith("=")
    assert decode_page_token(padded, _pair) == [3, "b"]


@pytest.mark.parametrize(
    "token",
    [
        "not a token!",
        "WyJ4Il0",  # base64 of ["x"]: JSON, but not the listing's shape
        encode_page_token(["x", 1]),
        "A" * 401,  # longer than any token a listing makes
        "_w",  # base64 of a byte that is not UTF-8
        7,
    ],
)
def test_anything_else_is_bad_input_naming_the_token(token: Any) -> None:
    with pytest.raises(InvalidInput, match="Invalid page_token") as caught:
        decode_page_token(token, _pair)
    assert caught.value.status_code == 400
    assert caught.value.details["page_token"] == repr(token)[:80]


def test_page_sizes() -> None:
    assert check_page_size(None) is None
    assert check_page_size(1) == 1
    assert check_page_size(MAX_PAGE) == MAX_PAGE
    assert check_page_size(5, most=5) == 5
    for bad in (0, MAX_PAGE + 1, True, 2.0, "3"):
        with pytest.raises(InvalidInput, match="Invalid max_results"):
            check_page_size(bad)
    with pytest.raises(InvalidInput, match="expected 1 to 5"):
        check_page_size(6, most=5)


def test_offset_tokens() -> None:
    assert decode_offset_token(None) == 0
    assert decode_offset_token("") == 0
    assert decode_offset_token(encode_offset_token(0)) == 0
    assert decode_offset_token(encode_offset_token(1234)) == 1234
    # The padded form with spaces that the server handed out before is still read.
    assert decode_offset_token(base64.urlsafe_b64encode(b'{"offset": 7}').decode()) == 7
    for bad in ({"offset": -1}, {"offset": True}, {"offset": "3"}, {"at": 3}, [3]):
        with pytest.raises(InvalidInput, match="Invalid page_token"):
            decode_offset_token(encode_page_token(bad))
