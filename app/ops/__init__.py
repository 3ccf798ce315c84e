"""Blueprint: operational endpoints (health check)."""
