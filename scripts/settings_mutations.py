"""Plant the six one-line faults of issue 13 one at a time and list the tests that catch each
(python scripts/settings_mutations.py; restores every file)."""
import pathlib
import subprocess
import sys
muts = [
 ("gamma->1", "ebana/updates/algorithms.py", "g_w + self.gamma * self.p(", "g_w + 1 * self.p("),
 ("pam_levels ignored", "ebana/updates/device_update.py", "pam_levels=c.pam_levels", "pam_levels=0"),
 ("cosine constant", "ebana/training.py", 'if cfg.lr_schedule == "constant":', 'if True:'),
 ("d2d never", "ebana/updates/device_update.py", "if cfg.d2d else nominal", "if False else nominal"),
 ("transfer_every", "ebana/updates/algorithms.py", "if t % self.every == 0:", "if True:"),
 ("dg_error report", "ebana/updates/device_update.py", "dg_error=float(np.abs(achieved - dg).sum())", "dg_error=0.0"),
 ("dg_error metric", "ebana/updates/device_update.py", '"dg_error": self.error / req', '"dg_error": 0.0'),
]
for name, f, a, b in muts:
    p = pathlib.Path(f)
    s = p.read_text()
    assert s.count(a) == 1, (name, s.count(a))
    p.write_text(s.replace(a, b))
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_settings.py"], capture_output=True, text=True)
        fails = [l.split("::")[1].split(" ")[0] for l in r.stdout.splitlines() if l.startswith("FAILED")]
        print(f"{name}: caught by {fails}")
    finally:
        p.write_text(s)
