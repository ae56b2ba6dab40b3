"""The team server's Alembic branch (``server``): users, API tokens and permissions."""
