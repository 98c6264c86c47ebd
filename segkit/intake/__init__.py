"""Intake: read sources with a column map (sources), parse exported text (parsing), clean with a row ledger (cleaning)."""
