/* libFuzzer entry for the dicom target (the body is ctvk_fuzz_dicom in targets.c). */
#include "tests/fuzz/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return ctvk_fuzz_dicom(data, size); }
