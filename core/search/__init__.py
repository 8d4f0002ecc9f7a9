"""Optuna searches: the space built from the registry (space), where studies live (storage), how
trials are counted (counting) and how each ends (outcomes), the search loop (study), duels with
confirmations on fresh seeds (duel), and distributed workers (worker)."""
