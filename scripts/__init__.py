"""Operator and development scripts (the mail sink, the Procfile helpers)."""
