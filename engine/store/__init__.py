"""Persistence: SQLAlchemy models, queries and schema management. The only place SQL lives."""
