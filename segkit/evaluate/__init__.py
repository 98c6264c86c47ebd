"""Evaluating classes: cluster quality and decision-tree rules."""
