"""The results report, `<root>/README.md` (report.py), and its pictures (figures.py)."""
