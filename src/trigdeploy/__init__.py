"""trigdeploy: trigger classifiers from collider data to FPGA firmware."""

__version__ = "0.1.0"
