"""Supervisors' audit screen (/audit): who read or did what to whose record, when, from where."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")
