// libFuzzer target for every parser that sees untrusted quote evidence:
// TPMS_ATTEST, TPMT_SIGNATURE, TPM2B_PUBLIC / PEM (LoadAkPublic),
// TPML_PCR_SELECTION, the tpm2-tools PCR file, and VerifyQuote itself with
// the Keylime AK, per call and through a prepared AkVerifier (which must
// give the same verdict). The first byte picks the split so one corpus (the
// Keylime quote files) seeds all of them.
#include <cstddef>
#include <cstdint>

#include "common/checks/quote.h"
#include "common/tpm/marshal.h"
#include "common/tpm/pcr.h"
#include "common/tpm/tpm_crypto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attest;
  tpm::ByteView all(data, size);
  // Every target sees the whole input too, so seed files parse as themselves.
  (void)tpm::ParseAttest(all);
  (void)tpm::ParseSignature(all);
  (void)tpm::ParsePcrSelection(all);
  (void)tpm::ParseTpm2ToolsPcrFile(all);
  auto key = tpm::LoadAkPublic(all);
  if (key && key->tpm_public) {
    (void)tpm::ComputeName(*key->tpm_public);
    (void)tpm::CheckAttestationKeyAttributes(*key->tpm_public);
  }
  if (size < 2) return 0;
  // Split the rest into quote | signature at a position given by byte 0.
  size_t split = 1 + (data[0] * (size - 1)) / 256;
  checks::QuoteInputs in;
  in.quote.assign(data + 1, data + split);
  in.signature.assign(data + split, data + size);
  if (key) in.ak_key = key->pkey.get();
  auto pcrs = tpm::ParseTpm2ToolsPcrFile(all);
  if (pcrs) in.pcrs = pcrs->values;
  in.previous = checks::ClockState{1, 0, 0, true};
  const auto per_call = checks::VerifyQuote(in);
  if (key) {
    // The prepared verifier must give the same verdict as the per-call path.
    const checks::AkVerifier prepared(key->pkey.get());
    in.ak_verifier = &prepared;
    const auto r = checks::VerifyQuote(in);
    if (r.failures.size() != per_call.failures.size()) __builtin_trap();
  }
  return 0;
}
