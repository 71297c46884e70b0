"""One fold trained: the fold task and its fingerprint (train, tasks, codehash), the recipe's optimizer and
schedule (recipe; the Recipe itself is models/recipe.py), precision, devices, tta, folds side by side (workers),
fitted to its seconds (timefit, within epochs' one cap), stopped at the run's deadline (clock, cutoff, watchdog),
the pseudo-label round (pseudo)."""
