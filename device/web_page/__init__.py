"""The rating page in a browser: what a self-service terminal's own screen shows instead of the
evaluator's window. Served by the local API; its presses go through the one main loop."""
