// Simulation main of the gilt array's Verilator model for cocotb's VPI library, for Verilator
// 5.0xx releases older than the VPI scheduling calls (evalNeeded, doInertialPuts) that the
// main shipped with cocotb 2.x expects; Debian 12 ships Verilator 5.006. cocotb drives every
// input with VPI writes and a timed callback clock; this loop runs one time slot at a time:
// evaluate until value-change callbacks settle, ReadWrite, ReadOnly, then jump to the next
// registered deadline. The bench sets COCOTB_TRUST_INERTIAL_WRITES=0 so cocotb applies its
// writes itself (this Verilator has no inertial VPI writes). Optional --trace writes dump.vcd.
// With the plusarg +gilt_native_clock this loop toggles the design's `clk` itself every time
// step (period 2 steps) instead of cocotb's clock callback: the bench then costs no VPI write
// per edge, only the callbacks it awaits (rising edge of `done`).
#include <algorithm>
#include <memory>
#include <string>

#include "Vtop.h"
#include "verilated.h"
#include "verilated_vpi.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

static vluint64_t sim_time = 0;
double sc_time_stamp() { return static_cast<double>(sim_time); }

extern "C" void vlog_startup_routines_bootstrap(void);

static void settle() {
    while (VerilatedVpi::callValueCbs()) {
    }
}

int main(int argc, char **argv) {
    bool trace = false;
    for (int i = 1; i < argc; i++)
        if (std::string(argv[i]) == "--trace") trace = true;
    Verilated::commandArgs(argc, argv);
    std::unique_ptr<Vtop> top(new Vtop(""));
    Verilated::fatalOnVpiError(false);
#if VM_TRACE
    VerilatedVcdC *tfp = nullptr;
    if (trace) {
        Verilated::traceEverOn(true);
        tfp = new VerilatedVcdC;
        top->trace(tfp, 99);
        tfp->open("dump.vcd");
    }
#else
    (void)trace;
#endif
    const bool native_clock = !std::string(
        Verilated::commandArgsPlusMatch("gilt_native_clock")).empty();
    vlog_startup_routines_bootstrap();
    VerilatedVpi::callCbs(cbStartOfSimulation);
    settle();
    while (!Verilated::gotFinish()) {
        top->eval_step();
        settle();
        if (VerilatedVpi::callCbs(cbReadWriteSynch)) {  // cocotb wrote inputs: evaluate again
            settle();
            top->eval_step();
            settle();
        }
        top->eval_end_step();
        VerilatedVpi::callCbs(cbReadOnlySynch);
#if VM_TRACE
        if (tfp) tfp->dump(sim_time);
#endif
        const vluint64_t none = static_cast<vluint64_t>(~0ULL);
        vluint64_t next = VerilatedVpi::cbNextDeadline();
        if (native_clock) {
            if (next != none && next <= sim_time) next = sim_time + 1;
            next = std::min(next, sim_time + 1);
            top->clk = !top->clk;
        } else if (next == none) {
            break;  // nothing left to wait for
        }
        sim_time = next;
        VerilatedVpi::callCbs(cbNextSimTime);
        settle();
        VerilatedVpi::callTimedCbs();
        settle();
    }
    top->final();
    VerilatedVpi::callCbs(cbEndOfSimulation);
#if VM_TRACE
    if (tfp) tfp->close();
#endif
    return Verilated::threadContextp()->errorCount() > 0 ? 1 : 0;
}
