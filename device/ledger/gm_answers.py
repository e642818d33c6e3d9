"""Reading a 国密 province's signed answers kept in the ledger (`gm_answers`), for
verification and retention alike."""

from __future__ import annotations

import sqlite3


def kept_answers(conn: sqlite3.Connection) -> dict[str, tuple[bytes, bytes]]:
    """digest → (payload, signature) of every answer kept (none in files made before them)."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "gm_answers" not in tables:
        return {}
    rows = conn.execute("SELECT digest, payload, signature FROM gm_answers")
    return {str(digest): (_blob(payload), _blob(signature)) for digest, payload, signature in rows}


def _blob(value: object) -> bytes:
    """A BLOB as kept; a hostile file's other types as the bytes they read as (they will not
    verify), never a traceback."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "replace")
