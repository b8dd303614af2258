"""Exposure and outcome events: buffered, pipelined into Redis streams, spooled to disk when Redis is down."""
