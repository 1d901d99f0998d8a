"""The ``run`` command: options, the plan to write, the Beam pipeline that writes the shards, and the
files written last; the launcher's flow is ``convert.py``, the workers' stages are ``stages.py``."""
