"""Static checks of a generated reward program: extract it, parse it, allow only a small language.

The first fence in front of the sandbox (:mod:`rewardlab.codegen.sandbox`), and
the one that gives the best feedback: every problem names its line, the
construct and why it is refused, and the whole list goes back to the LLM.

What a program may use:

* statements: ``def``, assignment, ``if``/``for``/``while``, ``return``, ``assert``, ``raise``,
  ``import math`` / ``import numpy as np`` / ``from numpy import ...``;
* expressions: arithmetic, comparisons, calls, subscripts, comprehensions, lambdas, f-strings;
* names it defines itself, its parameters, ``np``/``numpy``/``math`` and a list of pure builtins
  (:data:`SAFE_BUILTINS`).

Refused: other imports; classes, ``with``, ``try``, ``global``, generators, async; names or
attributes with a leading underscore (``__subclasses__``, ``__globals__``, ``__builtins__``);
frame and code introspection (``gi_frame``, ``f_back``, ``f_globals``, ``tb_frame``, ``co_*`` ...:
a generator's frame leads to the worker's globals without any import); ``str.format`` and
format strings with attribute or item access (``'{0.__globals__}'``);
file, pickle and ctypes helpers of numpy (``np.load``, ``.tofile``, ``np.ctypeslib``);
``np.random`` (a reward must be a function of the batch); builtins such as ``open``,
``eval``, ``getattr``, ``type``. The contract: a top-level ``def compute_reward(...)`` whose
parameters are drawn from :data:`FIELDS`.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

FUNCTION = "compute_reward"
FIELDS = ("obs", "action", "next_obs", "terminated", "truncated")
MODULES = {"math": "math", "numpy": "numpy", "numpy.linalg": "numpy", "typing": "typing"}
PREDEFINED = ("np", "numpy", "math")
SAFE_BUILTINS = (
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "frozenset", "int",
    "isinstance", "len", "list", "map", "max", "min", "pow", "range", "reversed", "round", "set",
    "slice", "sorted", "str", "sum", "tuple", "zip", "True", "False", "None",
    "ArithmeticError", "AssertionError", "Exception", "IndexError", "KeyError", "TypeError",
    "ValueError", "ZeroDivisionError", "FloatingPointError", "OverflowError", "RuntimeError",
)  # fmt: skip
FORBIDDEN_BUILTINS = {
    "open": "file access is not allowed",
    "exec": "running code from strings is not allowed",
    "eval": "running code from strings is not allowed",
    "compile": "running code from strings is not allowed",
    "__import__": "imports other than math and numpy are not allowed",
    "getattr": "attribute access by name is not allowed; write the attribute",
    "setattr": "changing attributes by name is not allowed",
    "delattr": "changing attributes by name is not allowed",
    "globals": "access to the interpreter's namespaces is not allowed",
    "locals": "access to the interpreter's namespaces is not allowed",
    "vars": "access to the interpreter's namespaces is not allowed",
    "dir": "introspection is not allowed",
    "type": "introspection is not allowed; use isinstance",
    "object": "introspection is not allowed",
    "super": "classes are not allowed",
    "input": "a reward cannot ask for input",
    "print": "printing is not available; return the values as components instead",
    "breakpoint": "debuggers are not available",
    "help": "help is not available",
    "exit": "a reward cannot stop the program",
    "quit": "a reward cannot stop the program",
    "memoryview": "raw memory access is not allowed",
    "id": "object addresses are not available",
}
FORBIDDEN_ATTRIBUTES = {
    **dict.fromkeys(
        ("load", "loads", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromfile",
         "tofile", "dump", "dumps", "memmap", "fromregex", "DataSource", "open"),
        "file access is not allowed",
    ),
    **dict.fromkeys(("ctypes", "ctypeslib", "f2py", "distutils", "lib", "testing", "show_config"),
                    "this part of numpy is not available"),
    "random": "random numbers are not allowed: a reward must be a deterministic function of the batch",
    "mro": "introspection is not allowed",
    **dict.fromkeys(("format", "format_map"),
                    "str.format reads attributes named in the format string ('{0.__globals__}'); use an f-string"),
    **dict.fromkeys(("gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "cr_origin",
                     "ag_frame", "ag_code", "ag_await", "tb_frame", "tb_next", "f_back", "f_globals", "f_locals",
                     "f_builtins", "f_code", "f_trace", "func_globals", "func_code"),
                    "frame and code introspection reaches the interpreter's globals"),
}  # fmt: skip
INTROSPECTION_PREFIXES = ("co_", "f_", "gi_", "cr_", "ag_", "tb_")  # code, frame, generator, coroutine, traceback
STATEMENTS = (
    ast.Module, ast.FunctionDef, ast.Return, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.While,
    ast.If, ast.Break, ast.Continue, ast.Pass, ast.Expr, ast.Assert, ast.Raise, ast.Import, ast.ImportFrom,
)  # fmt: skip
EXPRESSIONS = (
    ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.IfExp, ast.Attribute, ast.Subscript,
    ast.Slice, ast.Starred, ast.Name, ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp,
    ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda, ast.JoinedStr, ast.FormattedValue, ast.NamedExpr,
)  # fmt: skip
HELPERS = (
    ast.arguments, ast.arg, ast.keyword, ast.alias, ast.comprehension,
    ast.operator, ast.boolop, ast.cmpop, ast.unaryop, ast.expr_context,
)  # fmt: skip
REFUSED_NODES = {
    ast.ClassDef: "class definitions are not allowed; write functions",
    ast.AsyncFunctionDef: "async code is not allowed",
    ast.AsyncFor: "async code is not allowed",
    ast.AsyncWith: "async code is not allowed",
    ast.Await: "async code is not allowed",
    ast.With: "with-blocks are not allowed (no files or contexts)",
    ast.Try: "try/except is not allowed: let errors surface so they can be fixed",
    ast.Global: "global state is not allowed: a reward is a pure function of the batch",
    ast.Nonlocal: "nonlocal state is not allowed: a reward is a pure function of the batch",
    ast.Delete: "del is not allowed",
    ast.Yield: "generators are not allowed",
    ast.YieldFrom: "generators are not allowed",
    ast.Match: "match statements are not allowed; use if/elif",
}
if hasattr(ast, "TryStar"):
    REFUSED_NODES[ast.TryStar] = REFUSED_NODES[ast.Try]
MAX_SOURCE_CHARS = 20_000
MAX_NODES = 5_000


@dataclass(frozen=True)
class Problem:
    """One reason a program is refused: where, which construct, why."""

    line: int
    construct: str
    reason: str
    code: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "program"
        snippet = f" `{self.code}`" if self.code else ""
        return f"{where}:{snippet} {self.construct}: {self.reason}"


class ValidationError(ValueError):
    """A program failed the static checks; ``problems`` lists each one (``str`` joins them).

    Examples:
        >>> from rewardlab.codegen import ValidationError, check_program
        >>> try:
        ...     check_program("import os\\ndef compute_reward(next_obs):\\n    return {'x': open('f').read()}")
        ... except ValidationError as exc:
        ...     for problem in exc.problems:
        ...         print(problem)
        line 1: `import os` import os: only math and numpy (as np) can be imported
        line 3: `return {'x': open('f').read()}` `open`: file access is not allowed
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class CheckedProgram:
    """A program that passed the static checks, and the fields its function reads."""

    source: str
    fields: tuple[str, ...]
    function: str = FUNCTION


_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def extract_code(answer: str, *, function: str = FUNCTION) -> str:
    """The program in an LLM answer: the last fenced block that defines ``function``.

    Falls back to the last Python block, then to the whole answer when it parses as Python.

    Examples:
        >>> from rewardlab.codegen import extract_code
        >>> answer = "Here it is:\\n```python\\ndef compute_reward(next_obs):\\n    return {'x': next_obs[:, 0]}\\n```"
        >>> print(extract_code(answer))
        def compute_reward(next_obs):
            return {'x': next_obs[:, 0]}
    """
    blocks = [(lang.lower(), body) for lang, body in _BLOCK.findall(answer)]
    defining = [body for _, body in blocks if re.search(rf"^\s*def\s+{function}\s*\(", body, re.MULTILINE)]
    if defining:
        return defining[-1].strip("\n") + "\n"
    python = [body for lang, body in blocks if lang in ("python", "py", "")]
    if python:
        return python[-1].strip("\n") + "\n"
    try:
        ast.parse(answer)
    except SyntaxError:
        raise ValidationError(
            [Problem(0, "answer", f"no ```python code block defining {function}(...) found in the answer")]
        ) from None
    return answer


def check_program(source: str, *, function: str = FUNCTION, fields: tuple[str, ...] = FIELDS) -> CheckedProgram:
    """Parse ``source`` and apply the allow-list; raise :class:`ValidationError` listing every problem.

    Examples:
        >>> from rewardlab.codegen import ValidationError, check_program
        >>> check_program("def compute_reward(next_obs):\\n    return {'x': next_obs[:, 0]}").fields
        ('next_obs',)
        >>> try:
        ...     check_program("import os\\ndef compute_reward(obs):\\n    return {}")
        ... except ValidationError as err:
        ...     print("rejected")
        rejected
    """
    if len(source) > MAX_SOURCE_CHARS:
        raise ValidationError([Problem(0, "program", f"{len(source)} characters; at most {MAX_SOURCE_CHARS}")])
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        code = (err.text or "").strip()
        raise ValidationError([Problem(err.lineno or 0, "syntax", err.msg, code)]) from None
    lines = source.splitlines()
    checker = _Checker(lines)
    checker.visit(tree)
    problems = checker.problems
    if checker.nodes > MAX_NODES:
        problems.append(Problem(0, "program", f"{checker.nodes} syntax nodes; at most {MAX_NODES}"))
    wanted, more = _check_signature(tree, function, fields, lines)
    problems.extend(more)
    if problems:
        raise ValidationError(sorted(problems, key=lambda p: p.line))
    return CheckedProgram(source, wanted, function)


def _check_signature(
    tree: ast.Module, function: str, fields: tuple[str, ...], lines: list[str]
) -> tuple[tuple[str, ...], list[Problem]]:
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
    if not defs:
        return (), [Problem(0, "signature", f"no top-level function `def {function}(...)`; define one")]
    fn = defs[-1]
    code = lines[fn.lineno - 1].strip()
    problems = []
    args = fn.args
    if args.vararg or args.kwarg or args.posonlyargs or args.kwonlyargs:
        problems.append(Problem(fn.lineno, "signature", "use plain parameters (no *args, **kwargs, / or *)", code))
    names = [a.arg for a in args.args]
    for name in names:
        if name not in fields:
            reason = f"parameter {name!r} is not an input; name parameters from {', '.join(fields)}"
            problems.append(Problem(fn.lineno, "signature", reason, code))
    if not names:
        problems.append(Problem(fn.lineno, "signature", f"takes no inputs; take some of {', '.join(fields)}", code))
    if not any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(fn)):
        problems.append(Problem(fn.lineno, "signature", "never returns; return a dict of named components", code))
    return tuple(names), problems


def _format_fields(text: str) -> list[str]:
    """The field names of ``text`` read as a ``str.format`` string, nested ones too (``[]`` if it is not one)."""
    import string

    fields: list[str] = []
    try:
        for _, name, spec, _ in string.Formatter().parse(text):
            if name is not None:
                fields.append(name)
            if spec and "{" in spec:
                fields.extend(_format_fields(spec))
    except ValueError:  # unbalanced braces: not a format string
        return fields
    return fields


class _Checker(ast.NodeVisitor):
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.problems: list[Problem] = []
        self.nodes = 0
        self.defined: set[str] = set(PREDEFINED)
        self.modules: dict[str, str] = {"np": "numpy", "numpy": "numpy", "math": "math"}

    def refuse(self, node: ast.AST, construct: str, reason: str) -> None:
        line = getattr(node, "lineno", 0)
        code = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        self.problems.append(Problem(line, construct, reason, code))

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Module):
            self._collect_definitions(node)
        self.nodes += 1
        for kind, reason in REFUSED_NODES.items():
            if isinstance(node, kind):
                self.refuse(node, type(node).__name__.lower(), reason)
                return
        if not isinstance(node, STATEMENTS + EXPRESSIONS + HELPERS):
            self.refuse(node, type(node).__name__, "this construct is not allowed")
            return
        super().visit(node)

    def generic_visit(self, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            self.visit(child)

    def _collect_definitions(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.defined.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defined.add(node.name)
            elif isinstance(node, ast.arg):
                self.defined.add(node.arg)
            elif isinstance(node, ast.alias):
                self.defined.add((node.asname or node.name).split(".")[0])

    # -- statements ---------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name not in MODULES:
                self.refuse(node, f"import {alias.name}", "only math and numpy (as np) can be imported")
            elif alias.asname:
                self.modules[alias.asname] = MODULES[alias.name]
            else:
                self.modules[alias.name.split(".")[0]] = MODULES[alias.name.split(".")[0]]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or (module not in MODULES and module != "__future__"):
            self.refuse(node, f"from {module} import", "only math and numpy (as np) can be imported")
            return
        for alias in node.names:
            if alias.name == "*":
                self.refuse(node, f"from {module} import *", "import the names you use")
            elif alias.name.startswith("_") and module != "__future__":
                self.refuse(node, f"from {module} import {alias.name}", "private names are not allowed")
            elif alias.name in FORBIDDEN_ATTRIBUTES:
                self.refuse(node, f"from {module} import {alias.name}", FORBIDDEN_ATTRIBUTES[alias.name])
            elif module != "__future__":
                self._check_module_attribute(node, MODULES[module], alias.name)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.decorator_list:
            self.refuse(node, "decorator", "decorators are not allowed")
        self._check_name(node, node.name, "function name")
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self._check_name(node, node.arg, "parameter")
        self.generic_visit(node)

    # -- expressions --------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if not self._check_name(node, name, "name"):
            return
        if isinstance(node.ctx, ast.Load) and name not in self.defined and name not in SAFE_BUILTINS:
            if name in FORBIDDEN_BUILTINS:
                self.refuse(node, f"`{name}`", FORBIDDEN_BUILTINS[name])
            elif hasattr(builtins, name):
                self.refuse(node, f"`{name}`", f"this builtin is not available; available: {', '.join(SAFE_BUILTINS)}")
            else:
                self.refuse(node, f"`{name}`", "is not defined (not a parameter, an assignment or an import)")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("_"):
            self.refuse(node, f"attribute .{attr}", "underscore attributes reach the interpreter's internals")
        elif attr in FORBIDDEN_ATTRIBUTES:
            self.refuse(node, f"attribute .{attr}", FORBIDDEN_ATTRIBUTES[attr])
        elif attr.startswith(INTROSPECTION_PREFIXES):
            self.refuse(node, f"attribute .{attr}", "frame and code introspection reaches the interpreter's globals")
        elif isinstance(node.value, ast.Name) and node.value.id in self.modules:
            self._check_module_attribute(node, self.modules[node.value.id], attr)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and "{" in node.value:
            for field in _format_fields(node.value):
                if "." in field or "[" in field:
                    self.refuse(node, f"format field {{{field}}}",
                                "attribute or item access inside a format string is not allowed")  # fmt: skip

    def _check_module_attribute(self, node: ast.AST, module: str, attr: str) -> None:
        import importlib
        import types

        mod = importlib.import_module(module)
        if not hasattr(mod, attr):
            self.refuse(node, f"{module}.{attr}", f"{module} has no attribute {attr!r}")
        elif isinstance(getattr(mod, attr), types.ModuleType) and f"{module}.{attr}" not in MODULES:
            self.refuse(node, f"{module}.{attr}", "submodules other than numpy.linalg are not available")

    def _check_name(self, node: ast.AST, name: str, what: str) -> bool:
        if name.startswith("__"):
            self.refuse(node, f"{what} {name}", "double-underscore names reach the interpreter's internals")
            return False
        return True
