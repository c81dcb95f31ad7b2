"""The apply layer: the scheduler, running steps, recording outcomes, crash recovery, converge."""
