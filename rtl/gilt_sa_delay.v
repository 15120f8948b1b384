// A DEPTH-stage register delay line (DEPTH = 0: a wire). The skew and deskew buffers of the
// array are triangles of these: row i of the input skew is DEPTH = i, column j of the output
// deskew is DEPTH = COLS - 1 - j.
module gilt_sa_delay #(
    parameter WIDTH = 1,
    parameter DEPTH = 1
) (
    input  wire             clk,
    input  wire [WIDTH-1:0] d,
    output wire [WIDTH-1:0] q
);
    generate
        if (DEPTH == 0) begin : g_wire
            assign q = d;
        end else begin : g_regs
            reg [WIDTH-1:0] stage [0:DEPTH-1];
            integer i;
            always @(posedge clk) begin
                stage[0] <= d;
                for (i = 1; i < DEPTH; i = i + 1) stage[i] <= stage[i-1];
            end
            assign q = stage[DEPTH-1];
        end
    endgenerate
endmodule
