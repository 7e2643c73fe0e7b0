"""Plots (PNG) and reports."""
