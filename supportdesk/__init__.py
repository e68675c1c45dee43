import os

# Numerical libraries run single-threaded unless the operator says otherwise. Set before anything imports numpy: the
# local embedding model (apps/ai/embeddings.py) multiplies small matrices, one query at a time, from processes that
# already share the cores (web, workers, PostgreSQL). OpenBLAS's own threads gained nothing there and spun on a core
# after each call: half of the copilot worker's CPU (docs/benchmarks.md, "Copilot"). Batch ingestion is ~40 % slower
# in wall time with one thread, at less CPU; OPENBLAS_NUM_THREADS=N gives N back.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

from .celery import app as celery_app  # noqa: E402

__all__ = ("celery_app",)
