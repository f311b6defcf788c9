"""Escalation: a declarative ladder per task, raised by the sweep, worked by supervisors."""
