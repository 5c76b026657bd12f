"""Analyses that explain results (not pipeline stages): each writes a table under results/analysis/."""
