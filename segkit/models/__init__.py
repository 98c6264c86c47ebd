"""Fitted customer-level models: clustering (cluster), repeat buying and lifetime value (repeat_summary, clv)."""
