"""Inputs: small-image datasets found, verified, decoded, cached and split (datasets.py), their file
formats read and checked (formats.py), their published files downloaded (download.py), and the batch
augmentation of training (augment.py)."""
