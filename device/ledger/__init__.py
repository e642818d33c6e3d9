"""The ledger: the only code that speaks SQL to ledger.db.
Chain, migrations, outbox of unsent records, sync state, retention and verification.
"""
