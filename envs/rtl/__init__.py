"""`rtl-verilog-v0`: write a Verilog module from a spec; graded by simulation, yosys formal equivalence and
synthesis statistics, through a verdict channel the candidate cannot write."""
