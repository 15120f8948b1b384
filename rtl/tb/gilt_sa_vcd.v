// Second simulation root for Icarus wave dumps: with +vcd=PATH it writes the ports and
// top-level registers of gilt_sa (controller state, array edge vectors, counters) as VCD.
// Built only for wave runs (validation/rtl/build.py adds `-s gilt_sa_vcd`); not synthesised.
module gilt_sa_vcd;
    reg [8*1024-1:0] path;
    initial begin
        if ($value$plusargs("vcd=%s", path)) begin
            $dumpfile(path);
            $dumpvars(1, gilt_sa);
        end
    end
endmodule
