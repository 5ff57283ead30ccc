"""Data-parallel training over the simulated network: models, datasets, wire formats, the worker step
(gradient → collective → ``optim`` update) and the implicit-bias experiment."""
