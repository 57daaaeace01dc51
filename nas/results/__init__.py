"""Results and decisions: the results root and what its run folders and searches hold, read back
(store.py), and every rule that turns them into a verdict, a target met or a finalist (decide.py)."""
