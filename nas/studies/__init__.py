"""Studies that inform the search and decide nothing by themselves: which short training ranks like
the full one (proxy.py), recipes on validation (recipe.py), a search's second stage (rerank.py), how far
seeds move a score (seed_noise.py)."""
