"""What each write-up reported, keyed by write-up number (``MethodSpec.writeup``).

Copied from the write-ups' Results sections: the numbers are theirs, measured their way (one
seed, validation on the test set), and are shown only as what was claimed.
"""

REPORTED = {
    "000": "Best validation loss over an Optuna search (30 trials, 20 epochs): 1.0447 with "
           "lr 0.0097, beta 0.32, against Adam's 1.0541 (lr 0.0084): a slight improvement.",
    "001": "Minimum validation loss over 100 epochs with tuned lr: 1.3635 (lr 0.0932) against "
           "Adam's 1.1505 (lr 0.0104): clearly worse than Adam.",
    "002": "Training and test losses consistently higher than Adam's and much slower "
           "convergence: worse than Adam (no numbers reported).",
    "003": "Converges faster than Adam early (tuned lr 0.00271 vs Adam's 0.00524), but Adam "
           "catches up and ends with a slightly lower validation loss.",
    "004": "Final validation loss after 50 epochs: 1.0533 (lr 0.00585) against Adam's 1.0846 "
           "(lr 0.00624): a modest improvement.",
}


def reported(writeup: str | None) -> str | None:
    return REPORTED.get(writeup) if writeup else None
