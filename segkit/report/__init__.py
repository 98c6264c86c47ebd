"""The report: running notebooks (runner), the one place text becomes HTML (html), figures (plots), report tables (tables)."""
