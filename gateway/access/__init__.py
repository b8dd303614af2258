"""Who may do what: roles, per-person bearer tokens stored hashed, and the caller's identity."""
