"""fakegc package."""
