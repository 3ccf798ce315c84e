"""The review blueprint."""
