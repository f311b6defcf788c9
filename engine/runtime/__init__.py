"""Running pathway instances: start, complete, claim, release, tick, messages."""
