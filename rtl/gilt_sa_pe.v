// One processing element of the gilt systolic array: a signed ABITS x WBITS multiplier and an
// ACC_BITS accumulator path. ABITS = 9 holds an int8/uint8 activation minus its zero point
// (x - zp lies in -255..255 for every int8/uint8 zero point); WBITS = 8 holds int8 weights and
// int4 weights (sign-extended by the buffer's unpacker), WBITS = 4 is the int4-only PE.
//
// DATAFLOW 0 (weight-stationary): the weight sits in `w`; activations move right, partial sums
//   move down: psum_out <= psum_in + a * w.
// DATAFLOW 1 (output-stationary): activations move right, weights move down, the sum stays in
//   `acc`; on the step flagged `last` the finished sum is copied to `res` (read by the drain),
//   so the next tile can start accumulating while `res` waits.
//
// A MAC fires only for a valid step on a used row and column that is not zero-gated
// (`gate`: the whole wavefront's streamed operand block is zero); `fire` is the PE-busy bit.
module gilt_sa_pe #(
    parameter DATAFLOW = 0,
    parameter ABITS = 9,
    parameter WBITS = 8,
    parameter ACC_BITS = 32
) (
    input  wire                       clk,
    // activation bus (left -> right) with its sidebands
    input  wire signed [ABITS-1:0]    a_in,
    input  wire                       step_in,   // a stream step is at this PE
    input  wire                       arow_in,   // the step's row holds mapped work
    input  wire                       gate_in,   // zero-skip: the step is clock-gated
    input  wire                       first_in,  // OS: first step of a tile
    input  wire                       last_in,   // OS: last step of a tile
    output reg  signed [ABITS-1:0]    a_out,
    output reg                        step_out,
    output reg                        arow_out,
    output reg                        gate_out,
    output reg                        first_out,
    output reg                        last_out,
    // weight: WS preload port (row-addressed) / OS bus (top -> bottom)
    input  wire                       w_load,    // WS: write w/wcol from w_in this cycle
    input  wire signed [WBITS-1:0]    w_in,
    input  wire                       wcol_in,   // the column holds mapped work
    output reg  signed [WBITS-1:0]    w_out,
    output reg                        wcol_out,
    // partial sums (WS, top -> bottom) / finished sum (OS)
    input  wire signed [ACC_BITS-1:0] psum_in,
    output reg  signed [ACC_BITS-1:0] psum_out,
    output reg  signed [ACC_BITS-1:0] res,
    output wire                       fire
);
    reg signed [WBITS-1:0] w;      // WS: the stationary weight
    reg                    wcol;   // WS: the stationary weight's column is used
    reg signed [ACC_BITS-1:0] acc; // OS: the stationary partial sum

    wire signed [WBITS-1:0] w_op = (DATAFLOW == 0) ? w : w_in;
    wire wcol_op = (DATAFLOW == 0) ? wcol : wcol_in;
    assign fire = step_in & arow_in & wcol_op & ~gate_in;
    // a 9 x 8 signed product fits 17 bits; sign-extended to the accumulator width
    wire signed [ABITS+WBITS-1:0] prod = a_in * w_op;
    wire signed [ACC_BITS-1:0] addend = fire ? {{(ACC_BITS-ABITS-WBITS){prod[ABITS+WBITS-1]}}, prod}
                                             : {ACC_BITS{1'b0}};

    always @(posedge clk) begin
        a_out <= a_in;
        step_out <= step_in;
        arow_out <= arow_in;
        gate_out <= gate_in;
    end

    generate
        if (DATAFLOW == 0) begin : g_ws
            always @(posedge clk) begin
                if (w_load) begin
                    w <= w_in;
                    wcol <= wcol_in;
                end
                psum_out <= psum_in + addend;
            end
            always @(posedge clk) begin  // OS-only state: constant in WS, removed by synthesis
                res <= {ACC_BITS{1'b0}};
                acc <= {ACC_BITS{1'b0}};
                first_out <= 1'b0;
                last_out <= 1'b0;
                w_out <= {WBITS{1'b0}};
                wcol_out <= 1'b0;
            end
        end else begin : g_os
            wire signed [ACC_BITS-1:0] sum = (first_in ? {ACC_BITS{1'b0}} : acc) + addend;
            always @(posedge clk) begin
                if (step_in) acc <= sum;
                if (step_in & last_in) res <= sum;
                first_out <= first_in;
                last_out <= last_in;
                w_out <= w_in;
                wcol_out <= wcol_in;
                psum_out <= {ACC_BITS{1'b0}};
                w <= {WBITS{1'b0}};
                wcol <= 1'b0;
            end
        end
    endgenerate
endmodule
