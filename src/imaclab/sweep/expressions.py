"""Safe arithmetic for ``derived`` fields of a sweep spec.

``derived: {devices.r_high_ohm: "devices.r_low_ohm * ratio"}`` sets a field from
sweep variables and other config fields.  Expressions are parsed with :mod:`ast`
and only numbers, names, dotted names, arithmetic, comparisons, ``and``/``or``/``not``,
conditional expressions and a few math functions are allowed; nothing else is
evaluated, and a dotted name only ever reads a config field (never a Python attribute).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from imaclab.errors import ConfigError

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min, "max": max, "abs": abs, "round": round, "int": int, "float": float,
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "log2": math.log2, "log10": math.log10,
    "ceil": math.ceil, "floor": math.floor,
}


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def parse_expression(text: str, where: str) -> ast.Expression:
    """Parse and check an expression; raise ConfigError naming ``where`` if it is not allowed."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise ConfigError(f"{where}: cannot parse '{text}': {err.msg}") from None
    for node in ast.walk(tree):
        ok = isinstance(node, (ast.Expression, ast.Constant, ast.Name, ast.Attribute, ast.BinOp, ast.UnaryOp,
                               ast.Compare, ast.IfExp, ast.Call, ast.Load, ast.BoolOp, ast.And, ast.Or,
                               *_BINARY, *_UNARY, *_COMPARE))
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str, bool)):
            ok = False
        if isinstance(node, ast.Attribute) and (_dotted(node) is None or node.attr.startswith("_")):
            ok = False  # dotted names are config paths; nothing private is reachable
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            ok = False
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
                                               and not node.keywords):
            raise ConfigError(f"{where}: only these functions are allowed in '{text}': {', '.join(FUNCTIONS)}")
        if not ok:
            raise ConfigError(f"{where}: '{text}' uses {type(node).__name__}, which is not allowed "
                              "(use numbers, names, dotted fields, + - * / // % **, comparisons, and/or/not, "
                              "x if c else y)")
    return tree


def names_in(tree: ast.Expression) -> set[str]:
    """The variables and dotted fields an expression reads."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Name, ast.Attribute)):
            dotted = _dotted(node)
            if dotted is not None:
                if not (isinstance(node, ast.Name) and node.id in FUNCTIONS):
                    found.add(dotted)
                return
        for child in ast.iter_child_nodes(node):
            if isinstance(node, ast.Call) and child is node.func:
                continue
            visit(child)

    visit(tree)
    return found


def evaluate(tree: ast.Expression, lookup: Callable[[str], Any], where: str) -> Any:
    """Evaluate a checked expression; ``lookup(name)`` resolves variables and dotted fields."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Name, ast.Attribute)):
            return lookup(_dotted(node) or "")
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = ev(right_node)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BoolOp):  # short-circuit, like Python
            value = ev(node.values[0])
            for operand in node.values[1:]:
                if (not value) if isinstance(node.op, ast.And) else bool(value):
                    return value
                value = ev(operand)
            return value
        if isinstance(node, ast.IfExp):
            return ev(node.body) if ev(node.test) else ev(node.orelse)
        if isinstance(node, ast.Call):
            return FUNCTIONS[node.func.id](*[ev(a) for a in node.args])  # type: ignore[attr-defined]
        raise ConfigError(f"{where}: cannot evaluate {type(node).__name__}")

    try:
        return ev(tree)
    except ConfigError:
        raise
    except (ArithmeticError, TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {type(err).__name__}: {err}") from None
