"""user package."""
