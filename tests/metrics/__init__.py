"""Tests of shared.metrics (live metrics), against an in-process backend and a real redis-server."""
