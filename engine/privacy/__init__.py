"""Tiered access to person data (分级授权), consent to share across agencies, break-glass.

- `tiers`: the three tiers of person data, which tier each process variable carries (declared in
  the pathway and its forms), and filtering data by tier. Pure.
- `rules`: which tiers one user reads of one person's record — by role × jurisdiction, consent
  and break-glass. Pure.
- `services`: reading a person's record through those rules (audited), recording and revoking
  consent, opening a record with break-glass.
"""
