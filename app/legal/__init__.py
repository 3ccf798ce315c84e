"""Blueprint: the legal pages every page's footer links to (Impressum, privacy notice,
accessibility statement)."""
