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


_SQL_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_SQL_COMPARE = {ast.Eq: "=", ast.NotEq: "<>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_SQL_FUNCTIONS = {
    "log1p": "ln(1 + {0})",
    "abs": "abs({0})",
    "hour": "hour({0})",
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
