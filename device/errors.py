"""The one exception tree: every error the programs raise on purpose derives from `HaochapingError`.

Each carries a machine-readable `code` (`E_…`) as a field; only the command line and the HTTP
boundaries turn errors into friendly text.
"""

from __future__ import annotations


class HaochapingError(Exception):
    """Root of the tree. `code` names the kind of failure; `message` says it for a person."""

    code: str = "E_INTERNAL"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
