"""The time budget, one owner: the plan (planner, pure arithmetic), the measured speeds (probe), the budget applied
to a config (budget), a fold's expected and given seconds (foldtime, replan), the ETA (eta). What a fold itself
obeys -- the run's clock, the one epoch cap and tracing rule, a fold fitted to its seconds -- is in training/
(clock, epochs, timefit): planning measures training and plans it, training never imports planning."""
