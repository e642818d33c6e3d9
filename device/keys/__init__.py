"""The device's signing key, the identity vault for raters' personal data, private files."""
