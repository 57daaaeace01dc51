"""Every place this tool reaches past NNI 3.0's public API: patches, private attributes, its
database, its logs, its per-user manifest and its node process. No other module touches them, so an
NNI upgrade or audit reads this package alone.

Each entry names the NNI behaviour it works around and the test that proves it. Its modules, by job:

- `patches`: the NNI version, a lighter import, the banner, warnings, torch.load of its checkpoint.
- `manager`: NNI's manager (node) process: start or resume it, bind its dashboard, find its
  processes, list a search in NNI's manifest, wait for the last trials.
- `trial_side`: a trial's command and entry, the parameters it trains, the folder the experiment
  runs from, the trial's own folder.
- `database`: NNI's records of a search (its SQLite database and logs), read without NNI.
- `strategy`: NNI's strategy chain and evolution as a search needs them.
- `middleware`: the base of this tool's strategy middlewares, over NNI's private hooks; imports NNI,
  so it is imported from its module and not re-exported here.
- `trial_entry`: the process NNI starts for each trial (`python -m nas.nni_boundary.trial_entry`).
- `legacy_paths`: module paths that NNI's records of earlier searches name.

This package re-exports what the rest of the code uses (`nni_boundary.read_trials(...)`). What needs
NNI imports it inside the function: reading a search's database or logs (report, export, re-rank)
works on a machine without NNI. An installed NNI of another version stops the import with one line.
"""
from __future__ import annotations

from nas.nni_boundary.patches import (NNI_VERSION, NNIVersionError, _check_version, allow_full_torch_load,
                                      import_nni_lightly, lighten_nni_import, quiet_gate_rejections,
                                      require_nni, silence_banner, without_lightning)
from nas.nni_boundary.database import (COMPACT_FILE, ENDED, FINISHED, INTERRUPTED_MESSAGE, SAMPLE_FILE, Metric,
                                       NoDatabase, Trial, _param_count, check_samples, compact, experiment_started_ms,
                                       has_database, mark_interrupted, metrics, read_trials, scores_heard,
                                       trial_events)
from nas.nni_boundary.manager import (LOOPBACK_JS, MANAGER_WAIT_S, bind_dashboard, managers, register_stopped,
                                      skip_hpo_commands_on_resume, start, wait_completion, watch_workers)
from nas.nni_boundary.strategy import tolerant_chain, warm_evolution
from nas.nni_boundary.trial_side import (take_own_parameters, trial_output_dir, uploading, use_remote_trial_entry,
                                         use_trial_entry)

__all__ = ["NNI_VERSION", "NNIVersionError", "_check_version", "allow_full_torch_load", "import_nni_lightly",
           "without_lightning",
           "lighten_nni_import", "quiet_gate_rejections", "require_nni", "silence_banner", "COMPACT_FILE", "ENDED",
           "FINISHED", "INTERRUPTED_MESSAGE", "SAMPLE_FILE", "Metric", "NoDatabase", "Trial", "_param_count",
           "check_samples", "compact", "experiment_started_ms", "has_database", "mark_interrupted", "metrics",
           "read_trials", "scores_heard", "trial_events", "LOOPBACK_JS", "MANAGER_WAIT_S", "bind_dashboard",
           "managers", "register_stopped", "skip_hpo_commands_on_resume", "start", "wait_completion", "tolerant_chain",
           "warm_evolution", "take_own_parameters", "trial_output_dir", "uploading", "use_remote_trial_entry",
           "use_trial_entry", "watch_workers"]
