"""One fold trained: the fold task and its fingerprint (train, tasks, codehash), the recipe (recipe, augment,
precision, devices, tta), folds side by side (workers), stopped at the deadline (cutoff, watchdog), the
pseudo-label round (pseudo)."""
