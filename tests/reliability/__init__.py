"""Reliability: fuzzed server answers, infrastructure faults, concurrency and data safety.

Everything here drives the real ``openai`` SDK over real HTTP against the in-process emulator;
faults are injected on the server side through ``Emulator.mutate`` (see
``otel_assistants/emulator/faults.py``), never by patching the SDK.
"""
