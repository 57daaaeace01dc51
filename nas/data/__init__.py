"""Inputs: small-image datasets found, verified, decoded, cached and split (datasets.py), and the
batch augmentation of training (augment.py)."""
