"""Training: the loop every network goes through (loop.py), its options (ema.py, dropmask.py), and N
epochs x M seeds into a run folder (runs.py), in worker processes (workers.py). No NNI."""
