"""The parts of one run of a job (``core.run.JobRun`` puts them together): shared state and
rules (base), provider requests, hand-offs, one segment, takes, the modes, the join."""
