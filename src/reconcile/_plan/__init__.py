"""The plan layer: steps, ordering, the planner, saved plans, and a plan's text and JSON forms."""
