"""The monitoring stage's Alembic branch (collected by ``cycleml.store``'s migration runner)."""
