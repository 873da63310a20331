"""Runs schemathesis's CLI with one fix: hypothesis describes filter lambdas by parsing their
source with `ast.parse`, from every worker thread at once, and CPython 3.11's conversion of a
parse tree to Python objects keeps its recursion depth per interpreter, not per thread
("SystemError: AST constructor recursion depth mismatch"), which crashes a run by chance.
Every `ast.parse` is serialised here; nothing else changes.

    python3 scripts/schemathesis_serial_ast.py run ...   (same arguments as `schemathesis`)
"""

import ast
import runpy
import sys
import threading

_lock = threading.Lock()
_parse = ast.parse


def _serialised_parse(*args, **kwargs):
    with _lock:
        return _parse(*args, **kwargs)


ast.parse = _serialised_parse
sys.argv = ["schemathesis", *sys.argv[1:]]
runpy.run_module("schemathesis.cli", run_name="__main__", alter_sys=True)
