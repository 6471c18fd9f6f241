#include "common/evidence/convert.h"

#include "common/protoconv/hash_alg.h"

namespace attest::evidence {
namespace {

tpm::ByteView View(const std::string& s) {
  return tpm::ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

Result<void> ConvertPcrs(const v1::Quote& q, const Limits& limits, tpm::PcrValues* out) {
  if (static_cast<size_t>(q.pcrs_size()) > limits.max_banks) {
    return MakeError(errc::bank_count, "too many PCR banks");
  }
  for (const auto& bank : q.pcrs()) {
    const TPMI_ALG_HASH alg = protoconv::TpmHashAlg(bank.hash_algorithm());
    if (alg == TPM2_ALG_NULL) {
      return MakeError(errc::bank_algorithm, "unknown PCR bank hash algorithm");
    }
    for (const auto& [index, value] : bank.values()) {
      if (index > limits.max_pcr_index) {
        return MakeError(errc::pcr_index, "PCR index or value out of range");
      }
      if (value.size() > limits.max_pcr_value_bytes) {
        return MakeError(errc::pcr_value_size, "PCR index or value out of range");
      }
      (*out)[alg][index] = tpm::Bytes(value.begin(), value.end());
    }
  }
  return Ok();
}

verifier::ImaEvidence ConvertIma(const v1::Evidence& e) {
  verifier::ImaEvidence ima;
  ima.entries = e.ima().data();
  ima.format =
      e.ima().format() == v1::IMA_LOG_FORMAT_BINARY ? ima::Format::kBinary : ima::Format::kAscii;
  ima.start_offset = e.ima().start_offset();
  // No count with data: the verifier counts what it parses.
  if (e.ima().entry_count() != 0 || e.ima().data().empty()) {
    ima.entry_count = e.ima().entry_count();
  }
  // Unset or unknown: the runtime policy's log_hash_alg.
  ima.template_hash_alg =
      verifier::ImaHashAlg(protoconv::TpmHashAlg(e.ima().template_hash_algorithm()));
  if (e.has_capabilities() && e.capabilities().ima_entry_count() != 0) {
    ima.list_entries = e.capabilities().ima_entry_count();
  }
  return ima;
}

}  // namespace

Result<verifier::Evidence> ToVerifierEvidence(const v1::Evidence& e, const Limits& limits) {
  verifier::Evidence ev;
  ev.quote = View(e.quote().attest());
  ev.signature = View(e.quote().signature());
  ATTEST_RETURN_IF_ERROR(ConvertPcrs(e.quote(), limits, &ev.pcrs));
  if (e.has_ima()) {
    if (e.ima().data().size() > limits.max_ima_bytes) {
      return MakeError(errc::ima_size, "IMA data too large");
    }
    ev.ima = ConvertIma(e);
  }
  if (e.uefi_log().size() > limits.max_uefi_log_bytes) {
    return MakeError(errc::uefi_log_size, "UEFI log too large");
  }
  if (!e.uefi_log().empty()) ev.uefi_log = View(e.uefi_log());
  if (e.has_boot_time()) ev.boot_time = e.boot_time().seconds();
  return ev;
}

}  // namespace attest::evidence
