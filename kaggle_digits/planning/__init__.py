"""The time budget, one owner: the run's clock (clock), the plan (planner, pure arithmetic), the measured speeds
(probe), the budget applied to a config (budget), a fold's expected and given seconds (foldtime, replan), the one
epoch cap and tracing rule (epochs), a fold fitted to its seconds (timefit), the ETA (eta)."""
