"""The expression language of a problem spec's request-time and derived features: Python
syntax, restricted to arithmetic, comparisons, ``and``/``or``/``not``, string and number
literals, the names the feature may read and a few functions. Checked by walking the parsed
tree, never by running it: a spec is data, not code."""

from __future__ import annotations

import ast

FUNCTIONS = frozenset({"log1p", "abs", "hour", "min", "max"})
_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.USub,
    ast.Not,
    ast.And,
    ast.Or,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
)


def names_in(expression: str) -> set[str]:
    """The names an expression reads (functions excluded). Raises ValueError, saying what is
    not allowed, for anything outside the language."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"{expression!r} is not an expression ({exc.msg})") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise ValueError(
                f"{expression!r} uses {type(node).__name__}: only arithmetic, comparisons, and/or/not, "
                f"literals, column names and the functions {sorted(FUNCTIONS)} are allowed"
            )
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ValueError(f"{expression!r} calls a function outside {sorted(FUNCTIONS)}")
            if node.keywords:
                raise ValueError(f"{expression!r}: functions take positional arguments only")
        elif isinstance(node, ast.Name) and not _is_called(tree, node):
            names.add(node.id)
        elif isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str | bool):
            raise ValueError(f"{expression!r}: literals are numbers, strings or booleans")
    return names


def _is_called(tree: ast.AST, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))
