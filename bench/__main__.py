"""``python -m bench``: every benchmark, in order; together they write docs/benchmarks.md.

The worker profile needs py-spy (``pip install -e ".[bench]"``); without it that section is
left as it was.
"""

import shutil
import sys
from pathlib import Path

from bench import core, pipeline, profile

core.main()
pipeline.main()
if shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy").exists():
    profile.main()
else:
    print("py-spy not installed: the profile section was not refreshed", file=sys.stderr)
