/* libFuzzer entry for the ini target (the body is ctvk_fuzz_ini in targets.c). */
#include "tests/fuzz/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return ctvk_fuzz_ini(data, size); }
