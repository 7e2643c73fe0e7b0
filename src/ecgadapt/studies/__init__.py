"""Studies: config-driven experiment grids that write tables, figures and a summary."""
