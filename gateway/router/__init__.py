"""Pure assignment core: hashing, bucketing and variant choice. Stdlib only."""
