"""``python -m bench``: every benchmark, in order; together they write docs/benchmarks.md."""

from bench import core, pipeline

core.main()
pipeline.main()
