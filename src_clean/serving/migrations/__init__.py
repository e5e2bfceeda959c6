"""Alembic environment and revisions of the predictions database (run by ``migrate``)."""
