"""The exception tree: built-in bases, HTTP statuses, the one JSON shape, the drawn tree."""

from __future__ import annotations

import inspect

import pytest

from cycleml import errors


def _public_errors() -> list[type[errors.CycleMLError]]:
    return [
        obj
        for obj in vars(errors).values()
        if inspect.isclass(obj) and issubclass(obj, errors.CycleMLError)
    ]


def test_every_error_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    for cls in _public_errors():
        assert cls.__name__ in doc, cls
        assert str(cls.status_code) in doc, cls


@pytest.mark.parametrize(
    ("cls", "builtin", "status"),
    [
        (errors.InvalidInput, ValueError, 400),
        (errors.SpecError, ValueError, 422),
        (errors.ParamConflict, ValueError, 409),
        (errors.NotFound, KeyError, 404),
        (errors.AlreadyExists, Exception, 409),
        (errors.GateFailed, Exception, 409),
        (errors.PermissionDenied, Exception, 403),
    ],
)
def test_errors_inherit_builtins_and_carry_status(
    cls: type[errors.CycleMLError], builtin: type[Exception], status: int
) -> None:
    error = cls("what happened", hint="how to fix", details={"field": "x"})
    assert isinstance(error, builtin)
    assert error.status_code == status
    assert str(error) == "what happened Hint: how to fix"
    assert errors.to_dict(error) == {
        "error": {
            "code": cls.code,
            "message": "what happened",
            "hint": "how to fix",
            "details": {"field": "x"},
        }
    }


def test_not_found_reads_like_a_sentence_not_a_quoted_key() -> None:
    assert str(errors.NotFound("No run with id 'x'.")) == "No run with id 'x'."
    with pytest.raises(KeyError):
        raise errors.NotFound("gone")


@pytest.mark.parametrize("cls", _public_errors(), ids=lambda cls: cls.__name__)
def test_from_dict_raises_what_to_dict_rendered(cls: type[errors.CycleMLError]) -> None:
    sent = cls("what happened", hint="how to fix", details={"field": "x"})
    back = errors.from_dict(errors.to_dict(sent), status_code=cls.status_code)
    assert type(back) is cls
    assert (back.message, back.hint) == ("what happened", "how to fix")
    assert back.details == {"field": "x"}
    assert (back.code, back.status_code) == (cls.code, cls.status_code)


def test_from_dict_keeps_an_unknown_code_and_refuses_other_shapes() -> None:
    body = {"error": {"code": "teapot", "message": "short and stout", "hint": None}}
    back = errors.from_dict(body, status_code=418)
    assert type(back) is errors.CycleMLError
    assert (back.code, back.status_code, back.details) == ("teapot", 418, {})
    with pytest.raises(errors.InvalidInput, match="shape"):
        errors.from_dict({"detail": "Not Found"})
