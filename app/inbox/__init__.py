"""The staff inbox blueprint: email action links and each person's notification settings."""
