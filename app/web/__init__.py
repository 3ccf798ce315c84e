"""What every blueprint shares: role checks, form fields, template helpers."""
