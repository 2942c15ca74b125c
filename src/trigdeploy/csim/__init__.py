"""C simulation of generated firmware with g++: batched harness, testbench runs, comparison report."""
