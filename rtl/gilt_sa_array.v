// The ROWS x COLS PE grid with its skew and deskew buffers (the unit synthesised in
// docs/rtl.md). All edge ports are *unskewed*: one vector per cycle for all rows (and, in OS,
// all columns); the array delays row i by i cycles on the way in (input skew) and, in WS,
// column j by COLS-1-j on the way out (output deskew), so a wavefront issued at cycle t
// reaches PE(i, j) at t + i + j and its column sums leave together at t + ROWS + COLS - 1.
//
// WS: weights are written one row per cycle (`w_load`, `w_row`) and stay; psum enters each
//     column at the top as 0 and leaves at the bottom.
// OS: weights stream in at the top with the column skew; sums stay; `res_vec` is row
//     `drain_row` of the finished sums (combinational read, one row per cycle).
module gilt_sa_array #(
    parameter ROWS = 4,
    parameter COLS = 4,
    parameter DATAFLOW = 0,
    parameter ABITS = 9,
    parameter WBITS = 8,
    parameter ACC_BITS = 32
) (
    input  wire                         clk,
    input  wire [ROWS*ABITS-1:0]        a_vec,
    input  wire [ROWS-1:0]              arow_vec,
    input  wire                         step,
    input  wire                         gate,
    input  wire                         first,
    input  wire                         last,
    input  wire                         w_load,
    input  wire [(ROWS > 1 ? $clog2(ROWS) : 1)-1:0] w_row,
    input  wire [COLS*WBITS-1:0]        w_vec,
    input  wire [COLS-1:0]              wcol_vec,
    input  wire [(ROWS > 1 ? $clog2(ROWS) : 1)-1:0] drain_row,
    output wire [COLS*ACC_BITS-1:0]     psum_vec,
    output wire [COLS*ACC_BITS-1:0]     res_vec,
    output wire [ROWS*COLS-1:0]         fire_vec
);
    localparam SIDE = 5;  // step, arow, gate, first, last
    // horizontal and vertical nets between PEs: index [row][col] flattened as row*(COLS+1)+col
    wire signed [ABITS-1:0]    a_h   [0:ROWS*(COLS+1)-1];
    wire [SIDE-1:0]            s_h   [0:ROWS*(COLS+1)-1];
    wire signed [WBITS-1:0]    w_v   [0:(ROWS+1)*COLS-1];
    wire                       wc_v  [0:(ROWS+1)*COLS-1];
    wire signed [ACC_BITS-1:0] p_v   [0:(ROWS+1)*COLS-1];
    wire signed [ACC_BITS-1:0] res_g [0:ROWS*COLS-1];

    genvar i, j;
    generate
        // input skew: row i delayed by i cycles
        for (i = 0; i < ROWS; i = i + 1) begin : g_skew
            wire [ABITS+SIDE-1:0] skewed;
            gilt_sa_delay #(.WIDTH(ABITS + SIDE), .DEPTH(i)) u_skew (
                .clk(clk),
                .d({a_vec[i*ABITS +: ABITS], step, arow_vec[i], gate, first, last}),
                .q(skewed));
            assign a_h[i*(COLS+1)] = skewed[ABITS+SIDE-1:SIDE];
            assign s_h[i*(COLS+1)] = skewed[SIDE-1:0];
        end
        // top edge: WS psum 0 and (OS) weights with the column skew
        for (j = 0; j < COLS; j = j + 1) begin : g_top
            wire [WBITS:0] wskewed;
            if (DATAFLOW == 1) begin : g_os_skew
                gilt_sa_delay #(.WIDTH(WBITS + 1), .DEPTH(j)) u_wskew (
                    .clk(clk), .d({w_vec[j*WBITS +: WBITS], wcol_vec[j]}), .q(wskewed));
            end else begin : g_ws_bus
                assign wskewed = {w_vec[j*WBITS +: WBITS], wcol_vec[j]};
            end
            assign w_v[j] = wskewed[WBITS:1];
            assign wc_v[j] = wskewed[0];
            assign p_v[j] = {ACC_BITS{1'b0}};
        end
        for (i = 0; i < ROWS; i = i + 1) begin : g_row
            for (j = 0; j < COLS; j = j + 1) begin : g_col
                // WS preload writes row w_row from the column bus (top-edge values, unskewed)
                wire load = (DATAFLOW == 0) && w_load && (w_row == i);
                gilt_sa_pe #(.DATAFLOW(DATAFLOW), .ABITS(ABITS), .WBITS(WBITS),
                             .ACC_BITS(ACC_BITS)) u_pe (
                    .clk(clk),
                    .a_in(a_h[i*(COLS+1)+j]),
                    .step_in(s_h[i*(COLS+1)+j][4]), .arow_in(s_h[i*(COLS+1)+j][3]),
                    .gate_in(s_h[i*(COLS+1)+j][2]), .first_in(s_h[i*(COLS+1)+j][1]),
                    .last_in(s_h[i*(COLS+1)+j][0]),
                    .a_out(a_h[i*(COLS+1)+j+1]),
                    .step_out(s_h[i*(COLS+1)+j+1][4]), .arow_out(s_h[i*(COLS+1)+j+1][3]),
                    .gate_out(s_h[i*(COLS+1)+j+1][2]), .first_out(s_h[i*(COLS+1)+j+1][1]),
                    .last_out(s_h[i*(COLS+1)+j+1][0]),
                    .w_load(load),
                    .w_in(DATAFLOW == 0 ? w_v[j] : w_v[i*COLS+j]),
                    .wcol_in(DATAFLOW == 0 ? wc_v[j] : wc_v[i*COLS+j]),
                    .w_out(w_v[(i+1)*COLS+j]), .wcol_out(wc_v[(i+1)*COLS+j]),
                    .psum_in(p_v[i*COLS+j]), .psum_out(p_v[(i+1)*COLS+j]),
                    .res(res_g[i*COLS+j]),
                    .fire(fire_vec[i*COLS+j]));
            end
        end
        // bottom edge: WS deskew (column j delayed by COLS-1-j); OS drain read of one row
        for (j = 0; j < COLS; j = j + 1) begin : g_out
            if (DATAFLOW == 0) begin : g_deskew
                gilt_sa_delay #(.WIDTH(ACC_BITS), .DEPTH(COLS - 1 - j)) u_deskew (
                    .clk(clk), .d(p_v[ROWS*COLS+j]), .q(psum_vec[j*ACC_BITS +: ACC_BITS]));
                assign res_vec[j*ACC_BITS +: ACC_BITS] = {ACC_BITS{1'b0}};
            end else begin : g_drain
                assign psum_vec[j*ACC_BITS +: ACC_BITS] = {ACC_BITS{1'b0}};
                assign res_vec[j*ACC_BITS +: ACC_BITS] = res_g[drain_row*COLS+j];
            end
        end
    endgenerate
endmodule
