"""The multi-fidelity schedule as plain data and rules, no NNI: rungs, promotions, the race and its
statistics, the ledger of trainings, the budget plan (rungs.py)."""
