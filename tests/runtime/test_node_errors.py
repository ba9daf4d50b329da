"""nodes/errors.py without ComfyUI: a user error leaves a node as one line ComfyUI shows as
'ParetoSliderError: …'; a bug passes through untouched."""
from __future__ import annotations

import traceback

import pytest


@pytest.fixture(scope="module")
def errors(nodes_module):
    return nodes_module("errors")


@pytest.fixture(scope="module")
def core(nodes_module):
    import sys
    return sys.modules[nodes_module("errors").__name__.rsplit(".", 2)[0] + ".pareto_core"]


def comfy_type_name(klass) -> str:
    """ComfyUI's execution.full_type_name, which names the error in the UI."""
    return klass.__qualname__ if klass.__module__ == "builtins" else f"{klass.__module__}.{klass.__qualname__}"


def test_a_user_error_becomes_one_line_named_paretoslidererror(errors, core):
    class Node:
        @classmethod
        @errors.user_errors
        def execute(cls, value):
            core.validate_preference(core.parse_preference(value), 2, ["photo", "sketch"])

    with pytest.raises(errors.ParetoSliderNodeError) as info:
        Node.execute(value="nan, 1")
    err = info.value
    assert str(err) == "the preference contains NaN or infinity; give finite weights >= 0"
    assert comfy_type_name(type(err)) == "ParetoSliderError"
    assert isinstance(err, core.ParetoSliderError) and isinstance(err, ValueError)
    assert err.__cause__ is None and err.__suppress_context__
    # the frames below the node are gone: the traceback ends in the decorator
    frames = traceback.extract_tb(err.__traceback__)
    assert frames[-1].filename.endswith("errors.py") and len(frames) == 2
    assert traceback.format_exception_only(type(err), err) == [f"ParetoSliderError: {err}\n"]


def test_every_paretoslider_error_is_turned_and_a_message_is_kept_on_one_line(errors, core):
    @errors.user_errors
    def fail(kind, text):
        raise kind(text)

    for kind in (core.ParetoSliderError, core.ParetoSliderFileError, core.ParetoSliderMismatchError,
                 core.PreferenceError):
        with pytest.raises(errors.ParetoSliderNodeError, match="^a.safetensors: bad$"):
            fail(kind, "a.safetensors: bad")
    with pytest.raises(errors.ParetoSliderNodeError) as info:
        fail(core.ParetoSliderFileError, "first line\n  second line\n")
    assert str(info.value) == "first line; second line"


def test_a_bug_passes_through_untouched(errors):
    bug = KeyError("oops")

    @errors.user_errors
    def broken():
        raise bug

    @errors.user_errors
    def plain_value_error():
        raise ValueError("a bug, not a user error")

    with pytest.raises(KeyError) as info:
        broken()
    assert info.value is bug
    with pytest.raises(ValueError) as info:
        plain_value_error()
    assert type(info.value) is ValueError


def test_a_node_error_from_a_nested_call_is_not_wrapped_twice(errors, core):
    @errors.user_errors
    def inner():
        raise core.PreferenceError("bad ω")

    @errors.user_errors
    def outer():
        inner()

    with pytest.raises(errors.ParetoSliderNodeError) as info:
        outer()
    assert str(info.value) == "bad ω"


def test_validation_message_gives_true_or_the_one_line(errors, core):
    def check(name):
        if name != "ok":
            raise core.ParetoSliderFileError(f"ParetoSlider file {name!r} was not found\nput it in models/")
    assert errors.validation_message(check, "ok") is True
    assert errors.validation_message(check, "x") == "ParetoSlider file 'x' was not found; put it in models/"
    with pytest.raises(TypeError):          # a bug in the check is not a validation message
        errors.validation_message(lambda: None, "unexpected argument")


def test_wrapped_execute_keeps_its_name_and_signature(errors):
    import inspect

    class Node:
        @classmethod
        @errors.user_errors
        def execute(cls, slider, preference=None, width: int = 512):
            """doc"""
    assert Node.execute.__name__ == "execute" and Node.execute.__doc__ == "doc"
    assert list(inspect.signature(Node.execute).parameters) == ["slider", "preference", "width"]
    assert not inspect.iscoroutinefunction(Node.execute)
