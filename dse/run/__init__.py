"""Running a study: the Optuna runner, storage, recovery, samplers, sweeps, workers."""
