"""The evaluator program: screen, keypad, local API, flow and ledger wired around one loop."""
