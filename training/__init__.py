"""Training and analysis of real networks."""
