"""Optuna searches: the space built from the registry (space), where studies live (storage), and
searches, duels and workers (study)."""
