"""The study as frozen values: spec, search space, design, recipe of a design, the user's
inputs."""
