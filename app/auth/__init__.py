"""Blueprint: login, logout and the confirmation pages behind email action links."""
