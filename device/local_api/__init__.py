"""The local HTTP API: the counter's business system pushes cases and signs staff in and out."""
