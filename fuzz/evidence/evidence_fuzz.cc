// The evidence contract (common/evidence) on hostile bytes: an Evidence as
// the gateway and the worker decode it -> CheckShape under the gateway's
// default limits -> ToVerifierEvidence under the worker's. Invariant (abort
// otherwise): what the shape check accepts, the conversion accepts (the
// worker never refuses what a gateway admitted), and a converted evidence's
// views lie inside the message.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/evidence/convert.h"
#include "common/evidence/evidence.h"

namespace {

using namespace attest;

bool Inside(tpm::ByteView view, const std::string& field) {
  return view.empty() || (view.data() == reinterpret_cast<const uint8_t*>(field.data()) &&
                          view.size() == field.size());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  v1::Evidence e;
  if (size > (1u << 20) || !e.ParseFromArray(data, static_cast<int>(size))) return 0;
  const bool admitted = evidence::CheckShape(e, evidence::Limits{}).ok();
  auto ev = evidence::ToVerifierEvidence(e, evidence::WorkerLimits());
  if (admitted && !ev.ok()) std::abort();
  if (ev.ok()) {
    if (!Inside(ev->quote, e.quote().attest()) || !Inside(ev->signature, e.quote().signature())) {
      std::abort();
    }
    if (ev->uefi_log && !Inside(*ev->uefi_log, e.uefi_log())) std::abort();
    if (ev->pcrs.size() > evidence::kMaxBanksCap) std::abort();
  }
  return 0;
}
