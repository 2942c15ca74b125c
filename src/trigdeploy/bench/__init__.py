"""Benchmarks: physics, CPU latency, FPGA estimates and the quantization sweep, side by side."""
