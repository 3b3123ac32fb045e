`timescale 1 ps/1 ps
`define OK 12
`define INCORRECT 13

// VerilogEval-style testbench for Prob003_popcount3. verigym keeps it as provenance but never runs it: its verdict is the
// text "Mismatches: N in M samples", which a candidate can forge or pre-empt.
module tb();
  reg clk = 0;
  initial forever #5 clk = ~clk;
  integer errors = 0;
  integer samples = 0;
  initial begin
    #2000;
    $display("Hint: Total mismatched samples is %1d out of %1d samples\n", errors, samples);
    $display("Simulation finished at %0d ps", $time);
    $display("Mismatches: %1d in %1d samples", errors, samples);
    $finish;
  end
endmodule
