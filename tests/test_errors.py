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
