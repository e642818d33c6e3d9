"""The five-key serial keypad: wire framing, its events and the link that owns the port."""
