"""The `bench run` pipeline: options, planning jobs with cache keys (plan.py), executors
that turn jobs into rows (executors/, worker.py), models loaded once per process on a
device (models.py), per-image and dataset-level metric stages, and the run itself (run.py)."""
