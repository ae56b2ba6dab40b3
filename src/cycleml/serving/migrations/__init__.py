"""The serving stage's Alembic branch (collected by ``cycleml.store``'s migration runner)."""
