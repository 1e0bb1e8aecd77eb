"""Which table locks a statement takes."""
