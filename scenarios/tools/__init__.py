"""Side tools, each a program of its own (`python -m scenarios.tools.NAME --help`), run by
hand or by a make target, never by a profile: the abuse probes, the Redis backplane's bound,
each protocol's wire overhead, py-spy's CPU breakdown, and the cost of eviction."""
