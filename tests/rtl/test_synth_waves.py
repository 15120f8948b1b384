"""Yosys synthesis of the PE (cell counts, NAND2 equivalents) and the VCD waveform reader."""

from __future__ import annotations

import shutil

import pytest

from validation.rtl import synth, waves


def test_every_generic_cell_has_a_nand2_weight():
    assert synth.nand2_weight("$_NAND_") == 1.0
    assert synth.nand2_weight("$_DFF_P_") == pytest.approx(4.522 / 0.798)
    with pytest.raises(KeyError):
        synth.nand2_weight("$_SR_PP_")


@pytest.mark.oracle
def test_pe_synthesis_int4_is_smaller_than_int8():
    if shutil.which("yosys") is None:
        pytest.skip("yosys is not installed")
    pe8 = synth.summarize(synth.synthesize("gilt_sa_pe", {"DATAFLOW": 0, "WBITS": 8}))
    pe4 = synth.summarize(synth.synthesize("gilt_sa_pe", {"DATAFLOW": 0, "WBITS": 4}))
    # WS PE registers: activation 9 + step/row/gate 3 + partial sum 32, weight 8 (4) + column 1
    assert pe8["flip_flops"] == 44 + 9 and pe4["flip_flops"] == 44 + 5
    assert 0.5 < pe4["nand2_eq"] / pe8["nand2_eq"] < 0.8


def test_vcd_reader_handles_vectors_and_odd_identifiers():
    text = ("$timescale 1s $end\n$scope module gilt_sa $end\n"
            "$var reg 3 #\" state [2:0] $end\n$var wire 1 ! start $end\n"
            "$upscope $end\n$enddefinitions $end\n#0\nbx #\"\n0!\n#2\nb10 #\"\n1!\n#4\nb11 #\"\n")
    w = waves.parse_vcd(text)
    assert w["state"] == [(0, "x"), (2, "10"), (4, "11")]
    assert w["start"] == [(0, "0"), (2, "1")]
    assert waves.sample(w["state"], [1, 3, 5]) == [None, 2, 3]
