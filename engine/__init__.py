"""CarePath engine: BPMN care pathways across agencies.

Nothing happens at import time: no database connection, no file reads, no logging set-up.
"""
