"""Benchmarks: the kit against a plain-Keras baseline (baseline), the seed-model table (seed_models), the machine
the figures were measured on (machine) and the Markdown tables they publish (tables)."""
