"""A signed-in user's own account: changing the password (/account/password)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")
