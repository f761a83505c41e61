"""What the tests share: the ways an app drives runs (flows), reading the exported telemetry
(telemetry) and the fixtures (fixtures, a pytest plugin registered by tests/conftest.py)."""
