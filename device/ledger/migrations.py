"""Named schema migrations of the ledger, each recorded in the transaction that runs it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = tuple[str, Callable[[sqlite3.Connection], None]]


def _statements(script: str) -> Callable[[sqlite3.Connection], None]:
    """Run a script statement by statement (executescript would commit the open transaction)."""

    def run(conn: sqlite3.Connection) -> None:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)

    return run


_0001_ratings = _statements(
    """
        CREATE TABLE device_keys (
            key_id TEXT PRIMARY KEY,
            public_key TEXT NOT NULL
        );
        CREATE TABLE ratings (
            seq INTEGER PRIMARY KEY,
            evaluation_id TEXT NOT NULL UNIQUE,
            project_no TEXT NOT NULL,
            assess_number INTEGER NOT NULL,
            record TEXT NOT NULL,          -- canonical JSON, personal fields nulled
            record_hash TEXT NOT NULL,     -- SHA-256 of the full signed record
            has_identity INTEGER NOT NULL,
            seal TEXT NOT NULL,            -- device signature over record + hash + has_identity
            delivery TEXT,                 -- NULL unsent, 'accepted' or 'duplicate'
            delivered_at TEXT,             -- device clock when the province acknowledged
            quarantine_code TEXT,          -- the province rejected it: never resent blindly
            quarantine_message TEXT
        );
        CREATE INDEX ratings_unsent ON ratings(seq)
            WHERE delivery IS NULL AND quarantine_code IS NULL;
        CREATE TABLE rater_identities (
            seq INTEGER PRIMARY KEY REFERENCES ratings(seq),
            sealed BLOB NOT NULL
        );
    """
)


_0002_case_outcomes = _statements(
    """
        CREATE TABLE case_outcomes (
            id INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            project_no TEXT NOT NULL,
            outcome TEXT NOT NULL,         -- timeout, replaced, cancelled, no_reason, …
            event TEXT NOT NULL,           -- canonical JSON, signed by the device key
            delivered_at TEXT
        );
    """
)

_0003_sync_state_and_base = _statements(
    """
        CREATE TABLE sync_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE ledger_base (         -- the last row removed by retention, if any
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,
            record_hash TEXT NOT NULL,
            key_id TEXT NOT NULL,
            seal TEXT NOT NULL             -- device signature over {"seq", "recordHash"}
        );
        CREATE INDEX ratings_delivered ON ratings(delivered_at) WHERE delivery IS NOT NULL;
    """
)

_0004_key_history_and_receipts = _statements(
    """
        ALTER TABLE device_keys ADD COLUMN previous_key_id TEXT;
        ALTER TABLE device_keys ADD COLUMN issued_at INTEGER;       -- Unix seconds
        ALTER TABLE device_keys ADD COLUMN certificate TEXT;        -- by the previous key
        ALTER TABLE device_keys ADD COLUMN device_id TEXT;
        ALTER TABLE ratings ADD COLUMN receipt TEXT;                -- the province's signature
        ALTER TABLE ratings ADD COLUMN received_at TEXT;            -- the province's clock
    """
)

_0005_case_events_tables = _statements(
    """
        CREATE TABLE case_events (          -- cases that ended unrated: the spec's EVENT
            event_seq INTEGER PRIMARY KEY,  -- eventSeq, its own chain apart from ratings
            event_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            project_no TEXT NOT NULL,
            assess_number INTEGER NOT NULL,
            level_pressed INTEGER,
            event TEXT NOT NULL,            -- canonical JSON of the signed event
            event_hash TEXT NOT NULL,       -- SHA-256 of those bytes: the next prevHash
            delivery TEXT,                  -- NULL unsent, 'accepted' or 'duplicate'
            delivered_at TEXT,              -- device clock when the province acknowledged
            receipt TEXT,                   -- the province's signature, when it sent one
            received_at TEXT,               -- the province's clock
            quarantine_code TEXT,           -- the province rejected it: never resent blindly
            quarantine_message TEXT
        );
        CREATE INDEX case_events_unsent ON case_events(event_seq)
            WHERE delivery IS NULL AND quarantine_code IS NULL;
        CREATE TABLE settled_cases (        -- rated, or a bad level pressed: never pushed again
            project_no TEXT NOT NULL,
            assess_number INTEGER NOT NULL,
            PRIMARY KEY (project_no, assess_number)
        ) WITHOUT ROWID
    """
)


def _0005_case_events(conn: sqlite3.Connection) -> None:
    _0005_case_events_tables(conn)
    # a row's case numbers: its projectNo and every case of its batch
    conn.execute(
        "CREATE TRIGGER ratings_settle AFTER INSERT ON ratings BEGIN"
        " INSERT OR IGNORE INTO settled_cases (project_no, assess_number)"
        " SELECT NEW.project_no, NEW.assess_number UNION"
        " SELECT value, NEW.assess_number FROM"
        " json_each(coalesce(json_extract(NEW.record, '$.batchProjectNos'), json_array()));"
        " END"
    )
    conn.execute(
        "CREATE TRIGGER case_events_settle AFTER INSERT ON case_events"
        " WHEN NEW.level_pressed IN (1, 2) BEGIN"
        " INSERT OR IGNORE INTO settled_cases (project_no, assess_number)"
        " SELECT NEW.project_no, NEW.assess_number UNION"
        " SELECT value, NEW.assess_number FROM"
        " json_each(coalesce(json_extract(NEW.event, '$.batchProjectNos'), json_array()));"
        " END"
    )
    # what the ledger already holds: every rating, and old outcomes with a bad level pressed
    conn.execute(
        "INSERT OR IGNORE INTO settled_cases (project_no, assess_number)"
        " SELECT r.project_no, r.assess_number FROM ratings r UNION"
        " SELECT j.value, r.assess_number FROM ratings r,"
        " json_each(coalesce(json_extract(r.record, '$.batchProjectNos'), json_array())) j"
    )
    conn.execute(
        "INSERT OR IGNORE INTO settled_cases (project_no, assess_number)"
        " SELECT o.project_no, json_extract(o.event, '$.assessNumber') FROM case_outcomes o"
        " WHERE json_extract(o.event, '$.levelPressed') IN (1, 2) UNION"
        " SELECT j.value, json_extract(o.event, '$.assessNumber') FROM case_outcomes o,"
        " json_each(coalesce(json_extract(o.event, '$.batchProjectNos'), json_array())) j"
        " WHERE json_extract(o.event, '$.levelPressed') IN (1, 2)"
    )


def _0006_pending_bad_presses(conn: sqlite3.Connection) -> None:
    """A bad level pressed is on disk at once, and settles its case: a restart or a power cut
    while the rater chooses reasons can neither lose it nor let the case be rated again."""
    conn.execute(
        "CREATE TABLE pending_bad_presses ("  # its case has not ended yet
        " project_no TEXT NOT NULL, assess_number INTEGER NOT NULL,"
        " event TEXT NOT NULL,"  # the unsigned case event kept if the device stops first
        " PRIMARY KEY (project_no, assess_number))"
    )
    conn.execute(
        "CREATE TRIGGER pending_bad_press_settles AFTER INSERT ON pending_bad_presses BEGIN"
        " INSERT OR IGNORE INTO settled_cases (project_no, assess_number)"
        " SELECT NEW.project_no, NEW.assess_number UNION"
        " SELECT value, NEW.assess_number FROM"
        " json_each(coalesce(json_extract(NEW.event, '$.batchProjectNos'), json_array()));"
        " END"
    )


_0007_identity_losses = _statements(
    """
        CREATE TABLE identity_losses (      -- ratings sent without the rater's personal data
            seq INTEGER PRIMARY KEY REFERENCES ratings(seq),
            reason TEXT NOT NULL,           -- sealed_row_missing, does_not_open
            noted_at TEXT NOT NULL,         -- device clock (ISO, UTC) when the sync found it
            key_id TEXT NOT NULL,           -- the key that signed the record sent instead
            signature TEXT NOT NULL         -- its signature: the bytes sent are rebuilt from
                                            -- the stored record, this key id and signature
        );
        -- ratings an older sync kept back for the same reason go out now (without it)
        UPDATE ratings SET quarantine_code = NULL, quarantine_message = NULL
            WHERE quarantine_code = 'E_IDENTITY_LOST' AND delivery IS NULL
    """
)

_0008_identity_key_check = _statements(
    """
        CREATE TABLE identity_key_check (   -- which identity.key sealed the personal data held
            id INTEGER PRIMARY KEY CHECK (id = 1),
            key_check TEXT NOT NULL         -- IdentityVault.key_check: names the key, opens nothing
        )
    """
)


_0009_gm_answers = _statements(
    # A 国密 province's signed answers, one per call, kept while a rating it proves is kept:
    # the proof behind each `gm-sm2:<evaluateUnid>@<digest>` receipt.
    "CREATE TABLE gm_answers ("
    " digest TEXT PRIMARY KEY,"
    " payload BLOB NOT NULL,"
    " signature BLOB NOT NULL)"
)


def _0010_web_reactions(conn: sqlite3.Connection) -> None:
    """A rating made on the web page keeps both reaction times on the device: the browser's
    (from the page becoming visible, the one signed into the record when it is plausible) and
    the device's own (from serving the page to the press arriving). The record's fields are
    the province's, so the second one stays here, removed with its rating at retention."""
    conn.execute(
        "CREATE TABLE web_reactions ("
        " seq INTEGER PRIMARY KEY,"  # the rating's seq
        " page_ms INTEGER,"  # as the browser measured it; NULL when it sent none
        " device_ms INTEGER NOT NULL,"
        " signed_ms INTEGER NOT NULL)"  # the record's reactionMs: which of the two was signed
    )


MIGRATIONS: list[Migration] = [
    ("0001_ratings", _0001_ratings),
    ("0002_case_outcomes", _0002_case_outcomes),
    ("0003_sync_state_and_base", _0003_sync_state_and_base),
    ("0004_key_history_and_receipts", _0004_key_history_and_receipts),
    ("0005_case_events", _0005_case_events),
    ("0006_pending_bad_presses", _0006_pending_bad_presses),
    ("0007_identity_losses", _0007_identity_losses),
    ("0008_identity_key_check", _0008_identity_key_check),
    ("0009_gm_answers", _0009_gm_answers),
    ("0010_web_reactions", _0010_web_reactions),
]


def apply(conn: sqlite3.Connection, migrations: list[Migration] = MIGRATIONS) -> list[str]:
    """Run the migrations not yet recorded; return their names. conn must be in autocommit."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    applied = []
    for name, run in migrations:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")  # another process opened the ledger at the same time
                continue
            run(conn)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, datetime('now'))", (name,)
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
