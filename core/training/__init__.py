"""Training: one run (train), many runs of one method at once (population), paired runs over
seeds (compare), and the background job runner the app uses (runner)."""
