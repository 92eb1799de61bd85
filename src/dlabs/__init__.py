"""dlabs: a deep-learning lab manual as real software.

Every lab runs end to end on real data (fetch and verify, explore, train the manual's model and
a stronger one, evaluate against honest baselines on the standard protocol, plot, report) and
its trained model can be used from the command line, from Python and from a web page.

Python use mirrors the CLI verbs: ``from dlabs import api; api.train("boston", preset="smoke")``.
"""

import os as _os

__version__ = "0.1.0"

# Before PyTorch loads: its OpenMP threads (GNU libgomp) wait between operators by spinning 30,000
# times, then sleeping. Spinning without bound (libgomp's default) stalls when another job takes a
# core (letters' manual MLP, two threads beside a busy loop: 239 s against 7.5 s); sleeping at once
# (OMP_WAIT_POLICY=PASSIVE) makes every operator wait for a sleeping core to wake (11.6 s against
# 4.8 s on an idle 2-core VM). Trainings drop to one thread while another job runs (`CoreWatch`).
if "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ.setdefault("GOMP_SPINCOUNT", "30000")
