"""haochaping device side: the evaluator a citizen meets and the signed ledger it keeps."""

__version__ = "0.1.0"
