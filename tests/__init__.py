"""The test suite: behaviour a user would notice, through the real parts."""
