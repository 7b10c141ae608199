"""The expression language of a problem spec's request-time and derived features: Python
syntax, restricted to arithmetic, comparisons, ``and``/``or``/``not``, string and number
literals, the names the feature may read and a few functions. Checked by walking the parsed
tree, never by running it: a spec is data, not code."""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping

import numpy as np

# hour(ts): the hour of day in UTC with its minutes (13.5 is half past one), in SQL and numpy alike
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


_SQL_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_SQL_COMPARE = {ast.Eq: "=", ast.NotEq: "<>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_SQL_FUNCTIONS = {
    "log1p": "ln(1 + {0})",
    "abs": "abs({0})",
    "hour": "(hour({0}) + minute({0}) / 60.0)",
    "min": "least({0})",
    "max": "greatest({0})",
}


def to_sql(expression: str, column=lambda name: name) -> str:
    """The expression as DuckDB SQL; ``column`` renders a name (e.g. qualified or quoted)."""
    names_in(expression)  # refuses anything outside the language first

    def render(node: ast.AST) -> str:
        if isinstance(node, ast.Expression):
            return render(node.body)
        if isinstance(node, ast.BinOp):
            return f"({render(node.left)} {_SQL_BINARY[type(node.op)]} {render(node.right)})"
        if isinstance(node, ast.UnaryOp):
            return (
                f"(-{render(node.operand)})"
                if isinstance(node.op, ast.USub)
                else f"(NOT {render(node.operand)})"
            )
        if isinstance(node, ast.BoolOp):
            joiner = " AND " if isinstance(node.op, ast.And) else " OR "
            return "(" + joiner.join(render(v) for v in node.values) + ")"
        if isinstance(node, ast.Compare):
            parts, left = [], node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                parts.append(f"{render(left)} {_SQL_COMPARE[type(op)]} {render(right)}")
                left = right
            return "(" + " AND ".join(parts) + ")"
        if isinstance(node, ast.Call):
            args = ", ".join(render(a) for a in node.args)
            return _SQL_FUNCTIONS[node.func.id].format(args)
        if isinstance(node, ast.Name):
            return column(node.id)
        if isinstance(node.value, bool):
            return "TRUE" if node.value else "FALSE"
        if isinstance(node.value, str):
            return "'" + node.value.replace("'", "''") + "'"
        return repr(node.value)

    return render(ast.parse(expression, mode="eval"))


def evaluate(expression: str, columns: dict) -> np.ndarray:
    """The expression over columns of rows (numpy arrays: numbers as float64, strings as objects,
    timestamps as datetime64), as float64 (a condition gives 1.0 or 0.0). Walks the same tree
    ``to_sql`` renders, so a request-time feature computes online what SQL computes offline."""
    return compile_expression(expression)(columns)


def hour_field(column: str) -> str:
    """The request field carrying ``hour(column)``, computed once where the request is built."""
    return f"hour_of_{column}"


def compile_expression(
    expression: str, hours_given: bool = False, text: bool = False
) -> Callable[[Mapping], np.ndarray]:
    """The expression as a function of columns, parsed and checked once (a request path calls it
    per request). With ``hours_given``, ``hour(ts)`` reads the column ``hour_field(ts)`` (the
    request carries the hour, as Feast's request source does) instead of computing it. A
    ``text`` expression (a text column passed as it is) gives objects; any other, numbers."""
    names_in(expression)

    def run(node: ast.AST, columns: Mapping):
        if isinstance(node, ast.Expression):
            return run(node.body, columns)
        if isinstance(node, ast.BinOp):
            left, right = run(node.left, columns), run(node.right, columns)
            return _NUMPY_BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            value = run(node.operand, columns)
            return np.negative(value) if isinstance(node.op, ast.USub) else np.logical_not(value)
        if isinstance(node, ast.BoolOp):
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            values = [run(v, columns) for v in node.values]
            out = values[0]
            for value in values[1:]:
                out = combine(out, value)
            return out
        if isinstance(node, ast.Compare):
            out, left = None, run(node.left, columns)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = run(comparator, columns)
                step = _NUMPY_COMPARE[type(op)](left, right)
                out = step if out is None else np.logical_and(out, step)
                left = right
            return out
        if isinstance(node, ast.Call):
            if hours_given and node.func.id == "hour" and isinstance(node.args[0], ast.Name):
                return columns[hour_field(node.args[0].id)]
            args = [run(a, columns) for a in node.args]
            return _NUMPY_FUNCTIONS[node.func.id](*args)
        if isinstance(node, ast.Name):
            return columns[node.id]
        return node.value

    tree = ast.parse(expression, mode="eval")

    def compiled(columns: Mapping) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # a missing value gives NaN, as SQL's NULL
            return np.asarray(run(tree, columns), dtype=object if text else "float64")

    return compiled


def hours_read(expression: str) -> set[str]:
    """The columns an expression takes ``hour()`` of."""
    tree = ast.parse(expression, mode="eval")
    return {
        node.args[0].id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "hour"
        and node.args
        and isinstance(node.args[0], ast.Name)
    }


def _hour(timestamps) -> np.ndarray:
    values = np.asarray(timestamps, dtype="datetime64[s]")
    seconds = (values - values.astype("datetime64[D]")).astype("int64")
    return (seconds // 3600) + (seconds % 3600 // 60) / 60.0


_NUMPY_BINARY = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}
_NUMPY_FUNCTIONS = {"log1p": np.log1p, "abs": np.abs, "hour": _hour, "min": np.minimum, "max": np.maximum}
_NUMPY_COMPARE = {
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}
