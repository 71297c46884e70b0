"""The time budget, one owner: the plan (planner, pure arithmetic), the measured speeds (probe), the budget applied
to a config (budget), each fold's plan in seconds from those speeds (foldtime), and the run's folds in time -- admitted, re-planned,
its ETA -- from one pace (schedule). What a fold itself
obeys -- the run's clock, the one epoch cap and tracing rule, a fold fitted to its seconds -- is in training/
(clock, epochs, timefit): planning measures training and plans it, training never imports planning."""
