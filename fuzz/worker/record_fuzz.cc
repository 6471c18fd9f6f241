// libFuzzer target of the worker's whole record path; see record_harness.h
// for the two modes and the invariants checked on every input.
#include <cstdio>
#include <cstdlib>

#include "fuzz/worker/record_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (const char* broken = attest::fuzz::RunRecord(data, size)) {
    std::fprintf(stderr, "record_fuzz: invariant broken: %s\n", broken);
    std::abort();
  }
  return 0;
}
