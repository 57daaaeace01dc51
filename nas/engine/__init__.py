"""The search engine: launch, resume and view a search (launch.py); build its NNI experiment
(experiment.py); the strategy chain's middlewares (multifidelity.py: the schedule inside NNI;
replay.py, retry.py); the race's controls (controls.py) and the CPU-hour tracker that writes
rungs.json (tracker.py); what one trial runs (trial.py); remote machines (machines.py); making a
killed search resumable (recovery.py). Every NNI internal it needs goes through nas.nni_boundary."""
