"""Fitted customer-level models: clustering."""
