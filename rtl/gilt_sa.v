// gilt systolic array: controller, on-chip buffers, the PE array and performance counters.
// Runs one convolution (or matmul, a 1x1 convolution) lowered by im2col to the GEMM
// O[M x N] = I[M x K] . F[K x N]  (M = out_h*out_w pixels, N filters, K = C*kh*kw taps) as a
// sequence of ROWS x COLS tiles ("folds"), reading the im2col operand straight from the NCHW
// (or M x K) input buffer with a stride/padding/dilation address generator.
//
// WS (DATAFLOW 0): K on rows, N on columns, M streamed. Folds: column folds outer, K folds
//   inner. A fold preloads its weight tile one row per cycle (ROWS cycles), streams its M
//   pixels (one per cycle), and accumulates the column sums into the accumulator buffer
//   (the first K fold of a column fold adds the bias). The next fold's preload follows the
//   last wavefront down the rows, so it starts max(0, COLS-2) cycles after the last issue.
// OS (DATAFLOW 1): M on rows, N on columns, K streamed. Folds: pixel folds outer, column folds
//   inner; a new pixel fold sets up its row addresses (ROWS cycles). Sums stay in the PEs; the
//   finished tile is drained one row per cycle (bias added) while the next tile computes. The
//   last step of a tile waits until max(ROWS, COLS) cycles after the previous tile's last step
//   (drain port and result registers free).
//
// Zero-skip (ZERO_SKIP hardware, cfg_zero_skip at run time): a stream step whose streamed
//   operand block is all zero (WS: the fold's ROWS activations of that pixel; OS: the fold's
//   ROWS activations or its COLS weights at that k) is clock-gated in every PE it crosses
//   (counted in cnt_gated); WS also skips a whole fold whose weight tile is all zero (counted
//   in cnt_skipped), except the first K fold of a column fold, which writes the bias.
// Channel gating (GATING hardware, cfg_gating): the gate mask (one byte per input channel) is
//   scanned once (one channel per cycle) into a list of active channels; K runs over the active
//   channels only, so masked channels are never streamed.
//
// Counters: cnt_cycles (start to done), cnt_busy (PE-cycles that did a MAC), cnt_stall (cycles
// the controller waits on the array: skew turn-around, drain port, final flush), cnt_steps
// (stream steps issued), cnt_preload (preload / setup cycles), cnt_scan (gate-mask scan),
// cnt_gated, cnt_folds (folds run), cnt_skipped, cnt_kactive (K after gating).
//
// Buffers are behavioural multi-ported memories loaded with $readmemh from the golden-vector
// files named by plusargs (+ifmap= +weight= +bias= +gate=); +accout=PATH dumps the int32
// accumulator buffer with $writememh when done. Words are 32 bits, element 0 in the least
// significant bits (gilt golden --word-bits 32 --endianness little).
module gilt_sa #(
    parameter ROWS = 4,
    parameter COLS = 4,
    parameter DATAFLOW = 0,
    parameter ZERO_SKIP = 1,
    parameter GATING = 1,
    parameter IF_WORDS = 1 << 20,
    parameter W_WORDS = 1 << 20,
    parameter ACC_DEPTH = 1 << 21,
    parameter BIAS_DEPTH = 1 << 13,
    parameter GATE_WORDS = 1 << 11,
    parameter MAX_CH = 1 << 13
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        start,
    output reg         done,
    input  wire [31:0] cfg_c, cfg_h, cfg_w, cfg_n, cfg_kh, cfg_kw,
    input  wire [31:0] cfg_sh, cfg_sw, cfg_pt, cfg_pl, cfg_dh, cfg_dw, cfg_oh, cfg_ow,
    input  wire [31:0] cfg_in_cstride, cfg_in_hstride, cfg_w_nstride, cfg_w_kstride,
    input  wire [31:0] cfg_out_mstride, cfg_out_nstride, cfg_out_count,
    input  wire [31:0] cfg_x_zp,        // signed zero point of the input
    input  wire        cfg_x_unsigned,  // input dtype uint8 (else int8)
    input  wire        cfg_w4,          // weights are packed int4 (else int8)
    input  wire        cfg_has_bias,
    input  wire        cfg_zero_skip,
    input  wire        cfg_gating,
    output reg  [63:0] cnt_cycles, cnt_busy, cnt_stall, cnt_steps, cnt_preload, cnt_scan,
    output reg  [63:0] cnt_gated, cnt_folds, cnt_skipped, cnt_kactive
);
    localparam ABITS = 9, WBITS = 8, ACC_BITS = 32;
    localparam RB = ROWS > 1 ? $clog2(ROWS) : 1;
    localparam LAT = ROWS + COLS;  // issue -> writeback (WS): input reg + skew + grid + deskew
    localparam MAXRC = ROWS > COLS ? ROWS : COLS;

    // ------------------------------------------------------------------ buffers
    reg [31:0] ifmap_mem [0:IF_WORDS-1];
    reg [31:0] weight_mem [0:W_WORDS-1];
    reg [31:0] bias_mem [0:BIAS_DEPTH-1];
    reg [31:0] gate_mem [0:GATE_WORDS-1];
    reg [31:0] acc_mem [0:ACC_DEPTH-1];
    reg [8*1024-1:0] path, acc_path;
    reg have_acc_path;
    initial begin
        have_acc_path = 1'b0;
        if ($value$plusargs("ifmap=%s", path)) $readmemh(path, ifmap_mem);
        if ($value$plusargs("weight=%s", path)) $readmemh(path, weight_mem);
        if ($value$plusargs("bias=%s", path)) $readmemh(path, bias_mem);
        if ($value$plusargs("gate=%s", path)) $readmemh(path, gate_mem);
        if ($value$plusargs("accout=%s", acc_path)) have_acc_path = 1'b1;
    end

    // int8 / uint8 input element `idx` (4 per word), sign- or zero-extended
    function signed [10:0] x_elem(input [31:0] idx);
        reg [7:0] b;
        begin
            b = ifmap_mem[idx >> 2][(idx & 3) * 8 +: 8];
            x_elem = cfg_x_unsigned ? {3'b000, b} : {{3{b[7]}}, b};
        end
    endfunction
    // int8 (4 per word) or packed int4 (8 per word, low nibble first) weight `idx`
    function signed [7:0] w_elem(input [31:0] idx);
        reg [3:0] nib;
        begin
            if (cfg_w4) begin
                nib = weight_mem[idx >> 3][(idx & 7) * 4 +: 4];
                w_elem = {{4{nib[3]}}, nib};
            end else begin
                w_elem = weight_mem[idx >> 2][(idx & 3) * 8 +: 8];
            end
        end
    endfunction
    function [7:0] gate_elem(input [31:0] idx);
        gate_elem = gate_mem[idx >> 2][(idx & 3) * 8 +: 8];
    endfunction
    function in_range(input signed [31:0] v, input [31:0] hi);
        in_range = (v >= 0) && (v < $signed(hi));
    endfunction

    // ------------------------------------------------------------------ array
    reg  [ROWS*ABITS-1:0] a_q;
    reg  [ROWS-1:0]       arow_q;
    reg                   step_q, gate_q, first_q, last_q, wload_q;
    reg  [RB-1:0]         wrow_q;
    reg  [COLS*WBITS-1:0] w_q;
    reg  [COLS-1:0]       wcol_q;
    reg  [RB-1:0]         drain_row;
    wire [COLS*ACC_BITS-1:0] psum_vec, res_vec;
    wire [ROWS*COLS-1:0]  fire_vec;

    gilt_sa_array #(.ROWS(ROWS), .COLS(COLS), .DATAFLOW(DATAFLOW), .ABITS(ABITS),
                    .WBITS(WBITS), .ACC_BITS(ACC_BITS)) u_array (
        .clk(clk), .a_vec(a_q), .arow_vec(arow_q), .step(step_q), .gate(gate_q),
        .first(first_q), .last(last_q), .w_load(wload_q), .w_row(wrow_q), .w_vec(w_q),
        .wcol_vec(wcol_q), .drain_row(drain_row), .psum_vec(psum_vec), .res_vec(res_vec),
        .fire_vec(fire_vec));

    // ------------------------------------------------------------------ controller state
    localparam S_IDLE = 0, S_SCAN = 1, S_PRE = 2, S_STREAM = 3, S_WAIT = 4, S_FLUSH = 5,
               S_DONE = 6;
    reg [2:0]  state;
    reg [31:0] cnt;                  // cycle index inside PRE / WAIT / FLUSH / SCAN
    reg [31:0] act_list [0:MAX_CH-1];
    reg [31:0] act_count, kc, khkw;
    reg [31:0] n0, k0, m0, mtot;     // fold origin: filter, compacted k, pixel
    reg        first_kfold;
    reg        tile_nz;
    // k walker (compacted k -> channel index, kernel row, kernel column)
    reg [31:0] kw_idx, kw_c, kw_r, kw_s;
    // per-row constants: WS (k of the row), OS (pixel of the row)
    reg                rc_valid [0:ROWS-1];
    reg signed [31:0]  rc_cbase [0:ROWS-1], rc_hoff [0:ROWS-1], rc_hoffs [0:ROWS-1],
                       rc_woff [0:ROWS-1];
    // pixel walker (stream in WS, setup in OS)
    reg [31:0] px_m, px_oh, px_ow;
    reg [31:0] steps_left, step_k;
    reg [31:0] since_last;           // OS: cycles since the previous tile's last step
    // WS writeback tag pipeline: valid, first k fold, m, n0
    reg        tg_v [0:LAT-1];
    reg        tg_f [0:LAT-1];
    reg [31:0] tg_m [0:LAT-1], tg_n [0:LAT-1];
    // OS drain
    reg [31:0] dr_timer, dr_m, dr_n, pend_m, pend_n;
    reg        dr_active;
    reg [31:0] dr_left;

    integer i, j;
    reg signed [31:0] ih, iw, addr, aval, korig, wn, ch;
    reg signed [10:0] xv;
    reg signed [7:0]  wv;
    reg any_a, any_w, kvalid, issue_last;
    reg dumped;

    wire is_ws = (DATAFLOW == 0);
    wire [31:0] mcount = cfg_oh * cfg_ow;

    // PE-busy: how many PEs fired a MAC this cycle (counted on the clock edge)
    function [31:0] popcount(input [ROWS*COLS-1:0] bits);
        integer b;
        begin
            popcount = 0;
            for (b = 0; b < ROWS * COLS; b = b + 1) popcount = popcount + bits[b];
        end
    endfunction

    // channel of the walker's current k (identity without gating)
    function [31:0] walker_channel(input dummy);
        walker_channel = (GATING != 0 && cfg_gating) ? act_list[kw_c] : kw_c;
    endfunction

    task walker_reset;
        begin
            kw_idx <= 0; kw_c <= 0; kw_r <= 0; kw_s <= 0;
        end
    endtask
    task walker_advance;
        begin
            kw_idx <= kw_idx + 1;
            if (kw_s + 1 == cfg_kw) begin
                kw_s <= 0;
                if (kw_r + 1 == cfg_kh) begin kw_r <= 0; kw_c <= kw_c + 1; end
                else kw_r <= kw_r + 1;
            end else kw_s <= kw_s + 1;
        end
    endtask
    // the weights of compacted k (korig, kvalid) for the COLS filters n0.. onto the array's
    // column bus; any_w: one of them is nonzero
    task weight_row;
        begin
            any_w = 1'b0;
            for (j = 0; j < COLS; j = j + 1) begin
                wn = n0 + j;
                wv = (kvalid && wn < cfg_n) ? w_elem(wn * cfg_w_nstride + korig * cfg_w_kstride)
                                            : 8'sd0;
                w_q[j*WBITS +: WBITS] <= wv;
                wcol_q[j] <= wn < cfg_n;
                if (wv != 0) any_w = 1'b1;
            end
        end
    endtask
    task pixel_advance;
        begin
            px_m <= px_m + 1;
            if (px_ow + 1 == cfg_ow) begin px_ow <= 0; px_oh <= px_oh + 1; end
            else px_ow <= px_ow + 1;
        end
    endtask

    // next fold (returns via registers); WS: column folds outer, K folds inner;
    // OS: pixel folds outer, column folds inner
    reg last_fold;
    always @(*) begin
        if (is_ws) last_fold = (k0 + ROWS >= kc) && (n0 + COLS >= cfg_n);
        else last_fold = (n0 + COLS >= cfg_n) && (m0 + ROWS >= mtot);
    end

    task next_fold_ws;  // after a WS fold: to the next fold's preload (or flush)
        input streamed;
        begin
            if (last_fold) begin state <= S_FLUSH; cnt <= 0; end
            else begin
                if (streamed && COLS > 2) begin state <= S_WAIT; cnt <= 0; end
                else begin state <= S_PRE; cnt <= 0; end
                if (k0 + ROWS >= kc) begin
                    k0 <= 0; n0 <= n0 + COLS; first_kfold <= 1'b1; walker_reset;
                end else begin
                    k0 <= k0 + ROWS; first_kfold <= 1'b0;
                end
                tile_nz <= 1'b0;
            end
        end
    endtask

    always @(posedge clk) begin
        issue_last = 1'b0;
        // defaults: nothing enters the array
        step_q <= 1'b0; wload_q <= 1'b0; gate_q <= 1'b0; first_q <= 1'b0; last_q <= 1'b0;
        if (since_last != 32'hffffffff) since_last <= since_last + 1;
        if (rst) begin
            state <= S_IDLE; done <= 1'b0;
            for (i = 0; i < LAT; i = i + 1) tg_v[i] <= 1'b0;
            dr_timer <= 0; dr_active <= 1'b0;
        end else begin
            if (state != S_IDLE && state != S_DONE) cnt_cycles <= cnt_cycles + 1;
            cnt_busy <= cnt_busy + popcount(fire_vec);
            case (state)
            S_IDLE, S_DONE: if (start) begin
                done <= 1'b0;
                cnt_cycles <= 0; cnt_busy <= 0; cnt_stall <= 0; cnt_steps <= 0;
                cnt_preload <= 0; cnt_scan <= 0; cnt_gated <= 0; cnt_folds <= 0;
                cnt_skipped <= 0;
                khkw <= cfg_kh * cfg_kw;
                mtot <= mcount;
                act_count <= 0;
                n0 <= 0; k0 <= 0; m0 <= 0; first_kfold <= 1'b1; tile_nz <= 1'b0;
                walker_reset;
                px_m <= 0; px_oh <= 0; px_ow <= 0;
                since_last <= 32'hffffffff;
                cnt <= 0;
                if (GATING != 0 && cfg_gating) begin
                    state <= S_SCAN;
                end else begin
                    act_count <= cfg_c;
                    kc <= cfg_c * cfg_kh * cfg_kw;
                    cnt_kactive <= cfg_c * cfg_kh * cfg_kw;
                    state <= S_PRE;
                end
            end
            S_SCAN: begin  // one channel of the gate mask per cycle
                cnt_scan <= cnt_scan + 1;
                if (gate_elem(cnt) != 0) begin
                    act_list[act_count] <= cnt;
                end
                if (cnt + 1 == cfg_c) begin
                    kc <= (act_count + (gate_elem(cnt) != 0)) * khkw;
                    cnt_kactive <= (act_count + (gate_elem(cnt) != 0)) * khkw;
                    state <= S_PRE; cnt <= 0;
                end else cnt <= cnt + 1;
                act_count <= act_count + (gate_elem(cnt) != 0);
            end
            S_PRE: begin
                cnt_preload <= cnt_preload + 1;
                if (is_ws) begin : ws_preload
                    // row `cnt` of the weight tile: compacted k = k0 + cnt
                    kvalid = (k0 + cnt) < kc;
                    ch = walker_channel(1'b0);
                    korig = ch * khkw + kw_r * cfg_kw + kw_s;
                    rc_valid[cnt] <= kvalid;
                    rc_cbase[cnt] <= ch * cfg_in_cstride;
                    rc_hoff[cnt] <= $signed(kw_r * cfg_dh) - $signed(cfg_pt);
                    rc_hoffs[cnt] <= ($signed(kw_r * cfg_dh) - $signed(cfg_pt)) * $signed(cfg_in_hstride);
                    rc_woff[cnt] <= $signed(kw_s * cfg_dw) - $signed(cfg_pl);
                    weight_row;
                    wload_q <= 1'b1; wrow_q <= cnt[RB-1:0];
                    if (kvalid) walker_advance;
                    if (cnt + 1 == ROWS) begin
                        cnt_folds <= cnt_folds + 1;
                        if (ZERO_SKIP != 0 && cfg_zero_skip && !first_kfold && !(tile_nz | any_w)) begin
                            cnt_skipped <= cnt_skipped + 1;
                            next_fold_ws(1'b0);
                        end else begin
                            state <= S_STREAM;
                            px_m <= 0; px_oh <= 0; px_ow <= 0;
                            steps_left <= mtot;
                        end
                    end else begin
                        cnt <= cnt + 1;
                        tile_nz <= tile_nz | any_w;
                    end
                end else begin : os_setup
                    // row `cnt` of the pixel tile: pixel m0 + cnt
                    rc_valid[cnt] <= px_m < mtot;
                    rc_hoff[cnt] <= $signed(px_oh * cfg_sh) - $signed(cfg_pt);
                    rc_hoffs[cnt] <= ($signed(px_oh * cfg_sh) - $signed(cfg_pt)) * $signed(cfg_in_hstride);
                    rc_woff[cnt] <= $signed(px_ow * cfg_sw) - $signed(cfg_pl);
                    if (px_m < mtot) pixel_advance;
                    if (cnt + 1 == ROWS) begin
                        state <= S_STREAM; step_k <= 0; walker_reset;
                        steps_left <= (kc == 0) ? 1 : kc;
                    end else cnt <= cnt + 1;
                end
            end
            S_STREAM: begin
                if (is_ws) begin : ws_issue
                    any_a = 1'b0;
                    for (i = 0; i < ROWS; i = i + 1) begin
                        ih = $signed(px_oh * cfg_sh) + rc_hoff[i];
                        iw = $signed(px_ow * cfg_sw) + rc_woff[i];
                        addr = rc_cbase[i] + $signed(px_oh * cfg_sh) * $signed(cfg_in_hstride)
                               + rc_hoffs[i] + iw;
                        xv = (rc_valid[i] && in_range(ih, cfg_h) && in_range(iw, cfg_w))
                             ? x_elem(addr) : $signed(cfg_x_zp[10:0]);
                        aval = xv - $signed(cfg_x_zp);
                        a_q[i*ABITS +: ABITS] <= aval[ABITS-1:0];
                        arow_q[i] <= rc_valid[i];
                        if (aval != 0) any_a = 1'b1;
                    end
                    step_q <= 1'b1;
                    gate_q <= (ZERO_SKIP != 0) && cfg_zero_skip && !any_a;
                    if ((ZERO_SKIP != 0) && cfg_zero_skip && !any_a) cnt_gated <= cnt_gated + 1;
                    tg_v[0] <= 1'b1; tg_f[0] <= first_kfold; tg_m[0] <= px_m; tg_n[0] <= n0;
                    cnt_steps <= cnt_steps + 1;
                    pixel_advance;
                    steps_left <= steps_left - 1;
                    if (steps_left == 1) next_fold_ws(1'b1);
                end else begin : os_issue
                    if (steps_left == 1 && since_last < MAXRC) begin
                        cnt_stall <= cnt_stall + 1;  // drain port / result registers busy
                    end else begin
                        kvalid = step_k < kc;
                        ch = walker_channel(1'b0);
                        korig = ch * khkw + kw_r * cfg_kw + kw_s;
                        any_a = 1'b0;
                        for (i = 0; i < ROWS; i = i + 1) begin
                            ih = rc_hoff[i] + $signed(kw_r * cfg_dh);
                            iw = rc_woff[i] + $signed(kw_s * cfg_dw);
                            addr = $signed(ch * cfg_in_cstride) + rc_hoffs[i]
                                   + $signed(kw_r * cfg_dh) * $signed(cfg_in_hstride) + iw;
                            xv = (kvalid && rc_valid[i] && in_range(ih, cfg_h) && in_range(iw, cfg_w))
                                 ? x_elem(addr) : $signed(cfg_x_zp[10:0]);
                            aval = xv - $signed(cfg_x_zp);
                            a_q[i*ABITS +: ABITS] <= aval[ABITS-1:0];
                            arow_q[i] <= rc_valid[i] && kvalid;
                            if (aval != 0) any_a = 1'b1;
                        end
                        weight_row;
                        step_q <= 1'b1;
                        first_q <= step_k == 0;
                        last_q <= steps_left == 1;
                        gate_q <= (ZERO_SKIP != 0) && cfg_zero_skip && !(any_a && any_w);
                        if ((ZERO_SKIP != 0) && cfg_zero_skip && !(any_a && any_w))
                            cnt_gated <= cnt_gated + 1;
                        cnt_steps <= cnt_steps + 1;
                        if (kvalid) walker_advance;
                        step_k <= step_k + 1;
                        steps_left <= steps_left - 1;
                        if (steps_left == 1) begin
                            since_last <= 1;
                            issue_last = 1'b1; pend_m <= m0; pend_n <= n0;
                            cnt_folds <= cnt_folds + 1;
                            if (last_fold) begin state <= S_FLUSH; cnt <= 0; end
                            else if (n0 + COLS >= cfg_n) begin  // next pixel fold: set up rows
                                n0 <= 0; m0 <= m0 + ROWS; state <= S_PRE; cnt <= 0;
                            end else begin                   // next column fold, same pixels
                                n0 <= n0 + COLS; step_k <= 0; walker_reset;
                                steps_left <= (kc == 0) ? 1 : kc;
                            end
                        end
                    end
                end
            end
            S_WAIT: begin  // WS: the next preload follows the last wavefront down the rows
                cnt_stall <= cnt_stall + 1;
                if (cnt + 1 == COLS - 2) begin state <= S_PRE; cnt <= 0; end
                else cnt <= cnt + 1;
            end
            S_FLUSH: begin  // the last wavefront reaches the buffer (WS) / the last drain (OS)
                cnt_stall <= cnt_stall + 1;
                if (cnt + 1 == ROWS + COLS) begin state <= S_DONE; done <= 1'b1; end
                else cnt <= cnt + 1;
            end
            default: ;
            endcase

            // WS writeback: tag pipeline aligned with the deskewed column sums
            for (i = 1; i < LAT; i = i + 1) begin
                tg_v[i] <= tg_v[i-1]; tg_f[i] <= tg_f[i-1]; tg_m[i] <= tg_m[i-1];
                tg_n[i] <= tg_n[i-1];
            end
            if (!(state == S_STREAM && is_ws)) tg_v[0] <= 1'b0;
            if (is_ws && tg_v[LAT-1]) begin
                for (j = 0; j < COLS; j = j + 1) begin
                    wn = tg_n[LAT-1] + j;
                    if (wn < cfg_n) begin
                        addr = tg_m[LAT-1] * cfg_out_mstride + wn * cfg_out_nstride;
                        acc_mem[addr] <= (tg_f[LAT-1] ? (cfg_has_bias ? bias_mem[wn] : 32'd0)
                                                      : acc_mem[addr])
                                         + psum_vec[j*ACC_BITS +: ACC_BITS];
                    end
                end
            end
            // OS drain: one row of finished sums per cycle, bias added
            if (!is_ws) begin
                if (issue_last) dr_timer <= COLS;
                else if (dr_timer != 0) dr_timer <= dr_timer - 1;
                if (dr_timer == 1) begin
                    dr_active <= 1'b1; dr_left <= ROWS; drain_row <= 0;
                    dr_m <= pend_m; dr_n <= pend_n;
                end
                if (dr_active) begin
                    for (j = 0; j < COLS; j = j + 1) begin
                        wn = dr_n + j;
                        if (wn < cfg_n && dr_m < mtot) begin
                            addr = dr_m * cfg_out_mstride + wn * cfg_out_nstride;
                            acc_mem[addr] <= (cfg_has_bias ? bias_mem[wn] : 32'd0)
                                             + res_vec[j*ACC_BITS +: ACC_BITS];
                        end
                    end
                    drain_row <= drain_row + 1;
                    dr_m <= dr_m + 1;
                    if (dr_left == 1) dr_active <= 1'b0;
                    dr_left <= dr_left - 1;
                end
            end
        end
    end

    always @(posedge clk)
        if (state == S_DONE && done && have_acc_path && !dumped) begin
            $writememh(acc_path, acc_mem, 0, cfg_out_count - 1);
            dumped <= 1'b1;
        end
    always @(posedge clk) if (start) dumped <= 1'b0;
endmodule
