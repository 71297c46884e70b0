"""A run's scores: the blend registry and metrics (ensemble), temperatures (calibration), the typed run
summary and ensemble.json (summary)."""
