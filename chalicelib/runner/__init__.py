"""Running one phase (a run's plan or apply, a job step): the sandbox it runs in, terraform,
and reading terraform's output. Used by the run and job workers alike."""
