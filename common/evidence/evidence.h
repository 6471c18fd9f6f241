// The evidence contract shared by the gateway and the worker (issue 20.4):
// the limits an attest.v1.Evidence must keep, the shape check the gateway
// admits evidence with, and (convert.h) the conversion the worker verifies it
// after. The UUID rule is common/base/uuid.h.
//
// The gateway does not parse TPM structures: it bounds sizes and counts so a
// worker never receives an absurd record, and leaves the meaning to the
// verifier.
//
// One rule joins the two sides: the worker converts with WorkerLimits(), the
// most any gateway configuration admits (Validate), and the conversion checks
// a subset of what CheckShape checks. So the worker never rejects evidence a
// gateway accepted, and a record written by other means (an older gateway, a
// tool) still cannot make it allocate without bound.
//
// Errors (errors.h, one code per reason; messages name the field and values):
//   token_missing, quote_missing, attest_size, signature_size, bank_count,
//   bank_algorithm, bank_repeated, bank_empty, pcr_index, pcr_value_size,
//   ima_entry_count, ima_offset_overflow, ima_data_missing, ima_format,
//   ima_template_algorithm, ima_size, uefi_log_size, boot_time_range,
//   capabilities_lists, capabilities_version, capabilities_boot_time.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "attest/v1/attestation.pb.h"
#include "common/base/result.h"
#include "common/evidence/errors.h"

namespace attest::evidence {

// Distinct hash algorithms in attest.v1.HashAlgorithm (SHA-1, SHA-256,
// SHA-384, SHA-512, SM3-256): banks are distinct, so a valid quote has at most
// this many.
inline constexpr size_t kHashAlgorithms = 5;
// The worker's bank cap: above every gateway's max_banks, so a gateway that
// learns a new algorithm before the workers are upgraded is not refused.
inline constexpr size_t kMaxBanksCap = 8;
// The largest server.max_body_bytes a gateway accepts (ingest-gateway/config.cc):
// no field of an admitted body is larger.
inline constexpr size_t kMaxBodyBytesCap = size_t{1} << 30;
// The default server.max_body_bytes.
inline constexpr size_t kDefaultBodyBytes = size_t{2} << 20;

struct Limits {
  size_t max_attest_bytes = 2048;     // TPMS_ATTEST
  size_t max_signature_bytes = 1024;  // TPMT_SIGNATURE (RSA-4096 is 518)
  size_t max_banks = kHashAlgorithms;
  uint32_t max_pcr_index = 23;      // a TPM 2.0 PC client has PCRs 0..23
  size_t max_pcr_value_bytes = 64;  // SHA-512; CheckShape wants the bank's exact size
  size_t max_list_items = 16;       // capabilities lists
  size_t max_version_chars = 256;
  uint64_t max_ima_entries = 10'000'000;
  // Bounded by the body in practice: the gateway sets both to its
  // server.max_body_bytes (LimitsForBody).
  size_t max_ima_bytes = kDefaultBodyBytes;
  size_t max_uefi_log_bytes = kDefaultBodyBytes;
};

// The gateway's limits for a body limit of `max_body_bytes`
// (server.max_body_bytes): the defaults, IMA and UEFI log bounded by it.
Limits LimitsForBody(size_t max_body_bytes);

// The limits the worker converts with: each field the most any valid Limits
// may have (bank cap kMaxBanksCap, sizes kMaxBodyBytesCap).
Limits WorkerLimits();

// Ok when every field of `limits` is within WorkerLimits() and the banks at
// least 1; else base::errc::invalid_value naming the field.
Result<void> Validate(const Limits& limits);

// The shape of an Evidence, everything but its UUID (the caller's, with
// ParseUuid): token present; quote present, attest and signature 1..max
// bytes; 1..max_banks PCR banks of distinct known algorithms, each with
// values, indexes 0..max_pcr_index, values of the bank's digest size; IMA
// section consistent (entry count, offset overflow, data and format,
// template algorithm, data size); UEFI log size; timestamps in range;
// capabilities bounded. The first violation is returned.
Result<void> CheckShape(const v1::Evidence& evidence, const Limits& limits);

// The capabilities part alone (a ChallengeRequest carries them too).
Result<void> CheckCapabilities(const v1::AgentCapabilities& capabilities, const Limits& limits);

// Digest size of a hash algorithm, 0 for UNSPECIFIED or unknown values.
size_t DigestSize(int hash_algorithm);

}  // namespace attest::evidence
