"""Kaggle: the official ``kaggle`` CLI as subprocesses (client), self-contained kernel bundles (bundle) and
fanning folds out over kernels and gathering them back (fanout)."""
