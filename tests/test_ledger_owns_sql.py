"""The ledger owns its SQL: no product code outside `device/ledger/` opens a SQLite
connection, runs a statement or holds SQL text. The stand-in province keeps its own database
and may speak SQL in its storage modules only.

Calls and string constants are found with `ast`, so comments and docstrings never count.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("device", "sync", "provisioning", "simulator")
LEDGER = "device/ledger/"
# the stand-in province's own database (province.db), not the device's ledger
STAND_IN_STORAGE = frozenset(
    {
        "simulator/province/database.py",  # connection, transactions, checkpointer
        "simulator/province/store.py",  # devices, nonces, tag lists
        "simulator/province/ratings.py",  # evaluations, chain links, audit flags
        "simulator/province/reports.py",  # read-only statistics queries
        "simulator/province/speed/checkpoint.py",  # the WAL checkpoint thread (speed only)
        "simulator/province/event_store.py",  # case events, their chain and suppression flags
        "simulator/province/gm/tables.py",  # the 国密 dialect: apps, tokens, devices, unids
    }
)
STATEMENT_CALLS = frozenset({"execute", "executemany", "executescript"})
# SQL here is written in capitals; a keyword alone ("DELETE") is an HTTP method, not SQL
SQL_TEXT = re.compile(r"\s*((SELECT|INSERT|UPDATE|DELETE|PRAGMA|CREATE)\s+[\w(*]|(VACUUM|BEGIN)\b)")
SQL_TEXT_LOWER = re.compile(  # lower-case SQL, told from prose by its shape
    r"\s*(select\b.*\bfrom\b|insert\s+(or\s+\w+\s+)?into\b|update\s+\w+\s+set\b"
    r"|delete\s+from\b|pragma\s+\w+|create\s+(table|index|unique|view|trigger)\b"
    r"|vacuum\s*$|begin\s+(immediate|exclusive|deferred|transaction)\b)",
    re.IGNORECASE | re.DOTALL,
)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that stand alone as statements (docstrings and the like)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def sql_in(source: str, filename: str) -> list[tuple[int, str]]:
    """(line, what) for every place *source* speaks SQL."""
    tree = ast.parse(source, filename)
    imported: dict[str, str] = {}  # local name -> module.name, for from-imports
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("sqlite3", "sqlite_utils"):
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    standalone = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            head, _, rest = name.partition(".")
            full = f"{imported[head]}.{rest}".rstrip(".") if head in imported else name
            if isinstance(node.func, ast.Attribute) and node.func.attr in STATEMENT_CALLS:
                found.append((node.lineno, f".{node.func.attr}( call"))
            elif full in ("sqlite3.connect", "sqlite_utils.Database"):
                found.append((node.lineno, f"{full}( call"))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in standalone
            and (SQL_TEXT.match(node.value) or SQL_TEXT_LOWER.match(node.value))
        ):
            found.append((node.lineno, f"SQL text {node.value.strip()[:40]!r}"))
    return sorted(found)


def _allowed(relative: str) -> bool:
    return relative.startswith(LEDGER) or relative in STAND_IN_STORAGE


def test_only_the_ledger_and_the_stand_ins_storage_speak_sql() -> None:
    offences = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if _allowed(relative):
                continue
            for line, what in sql_in(path.read_text(encoding="utf-8"), relative):
                offences.append(f"{relative}:{line}: {what}")
    assert not offences, "SQL outside device/ledger/:\n" + "\n".join(offences)


def test_the_scan_sees_calls_and_sql_text_but_not_prose() -> None:
    source = '''
"""Module docstring: SELECT nothing, update the docs."""
import sqlite3
from sqlite_utils import Database as Db

def f(conn, ledger):
    """UPDATE in a docstring is prose."""
    # DELETE FROM ratings in a comment is not code
    conn.execute("SELECT 1")
    ledger.conn.executemany(sql, rows)
    sqlite3.connect("x.db")
    Db(conn)
    query = f"DELETE FROM {table}"
    vacuum = "VACUUM"
    message = "Update the firmware first"
    word = "select"
    method = "DELETE"
    lower = "select seq from ratings"
'''
    assert sql_in(source, "planted.py") == [
        (9, ".execute( call"),
        (9, "SQL text 'SELECT 1'"),
        (10, ".executemany( call"),
        (11, "sqlite3.connect( call"),
        (12, "sqlite_utils.Database( call"),
        (13, "SQL text 'DELETE FROM'"),
        (14, "SQL text 'VACUUM'"),
        (18, "SQL text 'select seq from ratings'"),
    ]
