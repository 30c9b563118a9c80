/* libFuzzer entry for the checkpoint target (the body is ctvk_fuzz_checkpoint in targets.c). */
#include "tests/fuzz/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return ctvk_fuzz_checkpoint(data, size); }
