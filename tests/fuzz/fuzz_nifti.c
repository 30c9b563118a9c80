/* libFuzzer entry for the nifti target (the body is ctvk_fuzz_nifti in targets.c). */
#include "tests/fuzz/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return ctvk_fuzz_nifti(data, size); }
