"""Test suite of the NON portal."""
