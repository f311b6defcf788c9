"""The CarePath schema as Alembic revisions (versions/), and running them (runner.py).

How to add a revision and the test that makes every schema change come with one: README.md.
"""
