/* Compiles a gilt golden-vector C header of an operator case and proves the arrays hold the
 * numbers gilt meant: each array's CRC-32 (zlib polynomial) must equal the header's *_CRC32,
 * the packed int4 weights must unpack to the int8 ones (a float32 input's CRC proves every
 * float literal parsed to the exact bits). Prints the output tensor, one value a
 * line, so the caller can compare it with output.npy. Build:
 *   gcc -std=c99 -Wall -Werror -DGILT_HEADER='"conv2d_....h"' check_header.c -o check_header */
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include GILT_HEADER

static uint32_t crc32(const void *data, size_t n) {
  const uint8_t *p = (const uint8_t *)data;
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

static int check(const char *name, const void *data, size_t bytes, uint32_t expected) {
  uint32_t got = crc32(data, bytes);
  printf("# %s crc32 %08x expected %08x %s\n", name, (unsigned)got, (unsigned)expected,
         got == expected ? "ok" : "MISMATCH");
  return got != expected;
}

int main(void) {
  int bad = 0;
  /* each tensor is optional: the same program checks conv2d, matmul and quantize cases */
#ifdef INPUT_COUNT
  bad += check("input", input_data, sizeof input_data, INPUT_CRC32);
  if (sizeof input_data != INPUT_COUNT * sizeof input_data[0]) bad++;
#endif
#ifdef WEIGHT_COUNT
  bad += check("weight", weight_data, sizeof weight_data, WEIGHT_CRC32);
#endif
#ifdef WEIGHT_PACKED_CRC32
  bad += check("weight_packed", weight_packed, sizeof weight_packed, WEIGHT_PACKED_CRC32);
  for (int i = 0; i < WEIGHT_COUNT; i++) {  /* int4 pairs: element 2i in the low nibble */
    int nibble = (weight_packed[i / 2] >> (4 * (i % 2))) & 15;
    if (((nibble ^ 8) - 8) != weight_data[i]) bad++;
  }
#endif
#ifdef BIAS_COUNT
  bad += check("bias", bias_data, sizeof bias_data, BIAS_CRC32);
#endif
#ifdef ACCUMULATOR_COUNT
  bad += check("accumulator", accumulator_data, sizeof accumulator_data, ACCUMULATOR_CRC32);
#endif
  bad += check("output", output_data, sizeof output_data, OUTPUT_CRC32);
  printf("# output: %d elements, scale %.9g, zero point %d\n", OUTPUT_COUNT,
         (double)OUTPUT_SCALE, (int)OUTPUT_ZERO_POINT);
  for (int i = 0; i < OUTPUT_COUNT; i++) printf("%d\n", (int)output_data[i]);
  return bad ? 1 : 0;
}
