"""``python -m bench``: every benchmark, in order; together they write docs/benchmarks.md.

The core and offline report, the pipeline at full scale, the live path (single polls),
alert latency, one broker against three, one API instance against two (files in a folder
and in S3), the worker profile, then ten times the stores (``bench.scale``, the longest: about an
hour). The profile needs py-spy (``pip install -e ".[bench]"``); without it that section is
left as it was.
"""

import shutil
import sys
from pathlib import Path

from bench import alerts, cluster, core, live, pipeline, profile, scale, serving

core.main()
pipeline.main()
live.main()
alerts.main()
cluster.main()
serving.main()
if shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy").exists():
    profile.main()
else:
    print("py-spy not installed: the profile section was not refreshed", file=sys.stderr)
scale.main()
