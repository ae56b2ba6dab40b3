"""The tracking stage's Alembic branch (collected by ``cycleml.store``'s migration runner)."""
