"""Why the lab's as-written numbers may sit far from a write-up's own, per write-up.

Written after reading the record's as-written rows (one seed each, so a gap is one draw, not a
trend); the record prints each beside its numbers. The write-ups give no code, no data seed and
no torch or MNIST-1D versions, so no gap here can be closed, only located.
"""

GAPS: dict[str, str] = {}
