"""nas.nni_boundary.trial_entry, the process NNI starts for each trial: it runs the module NNI names with NNI's
arguments, after importing NNI without scipy.stats and pandas, and both still work when asked for."""
from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = '''
import json, os, sys
state = {"argv": sys.argv[1:], "scipy_stats": "scipy.stats" in sys.modules, "pandas": "pandas" in sys.modules,
         "nni": "nni.mutable.mutable" in sys.modules, "marked": "NAS_TRIAL_IMPORTED_AT" in os.environ,
         "name": __name__}
from nni.mutable import mutable
state["cdf"] = float(mutable.norm(0, 1).cdf(0))          # the stand-in loads the real distribution
state["ppf"] = float(mutable.uniform(loc=2, scale=4).ppf(0.5))
import pandas
state["pandas_after"] = pandas.DataFrame({"a": [1]}).shape[0]
print(json.dumps(state))
'''


def run_entry(tmp_path, *args):
    (tmp_path / "probe_mod.py").write_text(PROBE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "nas.nni_boundary.trial_entry", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_runs_the_module_with_its_arguments_after_a_light_nni_import(tmp_path):
    out = run_entry(tmp_path, "-m", "probe_mod", "trial", "--x")
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout.strip().splitlines()[-1])
    assert state["argv"] == ["trial", "--x"] and state["name"] == "__main__"
    assert state["nni"] and state["marked"]
    assert not state["scipy_stats"] and not state["pandas"]  # NNI came in without them
    assert state["cdf"] == 0.5 and state["ppf"] == 4.0       # and they still work when asked for
    assert state["pandas_after"] == 1


def test_bad_usage_is_one_line_and_nonzero(tmp_path):
    out = run_entry(tmp_path, "probe_mod")
    assert out.returncode != 0 and out.stderr.strip().count("\n") == 0 and "usage:" in out.stderr


def test_the_manager_option_is_taken_and_the_rest_passed_on(tmp_path):
    out = run_entry(tmp_path, "--manager", "http://127.0.0.1:9", "-m", "probe_mod", "trial")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["argv"] == ["trial"]
