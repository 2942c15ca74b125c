"""HDL machinery shared by the stages: where the open tools are (Verilator, GHDL, Yosys), the
Verilator build and runner of an alkaid RTL project, GHDL simulation of a conifer VHDL project,
and Yosys synthesis. No Vivado anywhere: the counts are open-synthesis counts."""
