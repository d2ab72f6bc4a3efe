"""Conformance: the running gateway (`python -m local`, as `make run` starts it) over real HTTP."""
