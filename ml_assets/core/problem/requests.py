"""A spec's request-time features as the one function Feast's on-demand view registers: the
same expressions, evaluated offline over a whole entity frame and online per request.

Feast keeps a python-mode function's source text in its registry and rebuilds the function
from that text alone (``feast.transformation.udf_rehydrate``: ``exec`` with only numpy and
pandas at hand), so a closure over the spec would lose the spec on the way back. The function is
therefore generated as source holding the expressions as literals, and its body imports the
evaluator: the registered text is the function the service calls."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from ml_assets.core.problem.expressions import compile_expression, hour_field, hours_read, names_in

FUNCTION_NAME = "request_features"


def request_function_source(expressions: dict[str, str], text_inputs: tuple[str, ...]) -> str:
    return (
        f"def {FUNCTION_NAME}(inputs):\n"
        f"    from ml_assets.core.problem.requests import evaluate_request\n\n"
        f"    return evaluate_request({tuple(expressions.items())!r}, {tuple(text_inputs)!r}, inputs)\n"
    )


def request_function(expressions: dict[str, str], text_inputs: tuple[str, ...]) -> tuple[Callable, str]:
    """The python-mode on-demand function computing ``expressions`` (feature -> expression) from
    columns of rows, and its source text (what Feast registers)."""
    source = request_function_source(expressions, text_inputs)
    namespace: dict = {"__name__": "__main__"}  # dill keeps a __main__ function by value
    exec(compile(source, f"<{FUNCTION_NAME}>", "exec"), namespace)  # noqa: S102 (our own generated text)
    return namespace[FUNCTION_NAME], source


def evaluate_request(
    expressions: tuple[tuple[str, str], ...], text_inputs: tuple[str, ...], inputs: dict[str, list]
) -> dict[str, list]:
    """The features over columns of rows: numbers as float64 (None -> NaN, as pandas would), text
    as objects; of the inputs, only what the expressions read (Feast passes every feature of a
    source view)."""
    compiled, read = _compiled(expressions, text_inputs)
    columns = {
        name: np.asarray(inputs[name], dtype=object if name in text_inputs else "float64") for name in read
    }
    return {feature: function(columns).tolist() for feature, function in compiled}


@functools.cache
def _compiled(
    expressions: tuple[tuple[str, str], ...], text_inputs: tuple[str, ...]
) -> tuple[list[tuple[str, Callable]], frozenset[str]]:
    # a text input read as it is stays text (a categorical passed to the model's encoding)
    compiled = [
        (feature, compile_expression(e, hours_given=True, text=e.strip() in text_inputs))
        for feature, e in expressions
    ]
    read: set[str] = set()
    for _, expression in expressions:  # a timestamp is read through its hour field only
        hours = hours_read(expression)
        read |= (names_in(expression) - hours) | {hour_field(h) for h in hours}
    return compiled, frozenset(read)
