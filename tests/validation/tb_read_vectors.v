// Reads a gilt golden-vector $readmemh image and prints every element in decimal, one per line.
// Parameters come from the tensor's manifest entry (hex: word_bits, elements_per_word, words;
// dtype: element bits and signedness); the file name comes from the +vectors=PATH plusarg:
//   iverilog -g2005 -Ptb_read_vectors.WORD_BITS=32 -Ptb_read_vectors.ELEM_BITS=4 \
//            -Ptb_read_vectors.WORDS=144 -Ptb_read_vectors.COUNT=1152 -o tb tb_read_vectors.v
//   vvp tb +vectors=weight.hex [+dump=out.hex]
// With +dump=PATH it also writes the memory back with $writememh, as an RTL simulation dumps an
// output buffer: `gilt check` reads such a dump directly.
module tb_read_vectors;
  parameter WORD_BITS = 32;   // manifest: files.hex.word_bits
  parameter ELEM_BITS = 8;    // 4 for int4/uint4, else the dtype's width
  parameter WORDS = 1;        // manifest: files.hex.words
  parameter COUNT = 1;        // manifest: count (elements; the last word may be padded)
  parameter SIGNED = 1;       // int* dtypes: 1, uint* dtypes: 0
  parameter BIG_ENDIAN = 0;   // manifest: files.hex.endianness == "big"
  localparam PER_WORD = WORD_BITS / ELEM_BITS;

  reg [WORD_BITS-1:0] mem [0:WORDS-1];
  reg [ELEM_BITS-1:0] elem;
  reg [8*512-1:0] path, dump;
  integer i, slot;

  initial begin
    if (!$value$plusargs("vectors=%s", path)) begin
      $display("ERROR: pass +vectors=FILE");
      $finish;
    end
    $readmemh(path, mem);
    for (i = 0; i < COUNT; i = i + 1) begin
      // little endian: element 0 of a word in its least significant ELEM_BITS
      slot = BIG_ENDIAN ? (PER_WORD - 1 - i % PER_WORD) : (i % PER_WORD);
      elem = mem[i / PER_WORD][slot * ELEM_BITS +: ELEM_BITS];
      if (SIGNED)
        $display("%0d", $signed(elem));
      else
        $display("%0d", elem);
    end
    if ($value$plusargs("dump=%s", dump))
      $writememh(dump, mem);
    $finish;
  end
endmodule
