"""Control plane: the routing config in Redis, atomic audited changes, propagation to gateways."""
