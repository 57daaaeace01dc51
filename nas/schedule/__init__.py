"""The multi-fidelity schedule as plain data and rules, no NNI: rungs and jobs (rungs.py, which
states the rules), the race's statistics (race.py), the ledger of trainings and the race's outcome
(ledger.py), and the budget plan (plan.py)."""
