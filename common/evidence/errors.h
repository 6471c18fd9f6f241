// Error codes of the evidence contract (common/evidence/evidence.h): one per
// reason an Evidence is refused, so tests and callers tell them apart without
// parsing messages. The gateway answers each with 400; the worker with a
// REJECTED verdict, finding "evidence.malformed".
#pragma once

#include <system_error>

namespace attest::evidence {

enum class errc {
  ok = 0,
  token_missing = 1,            // challenge_token is empty
  quote_missing = 2,            // no quote
  attest_size = 3,              // quote.attest empty or above max_attest_bytes
  signature_size = 4,           // quote.signature empty or above max_signature_bytes
  bank_count = 5,               // quote.pcrs: no bank, or more than max_banks
  bank_algorithm = 6,           // a bank's hash algorithm is unspecified or unknown
  bank_repeated = 7,            // two banks of one hash algorithm
  bank_empty = 8,               // a bank without values
  pcr_index = 9,                // a PCR index above max_pcr_index
  pcr_value_size = 10,          // a PCR value of the wrong size for its bank
  ima_entry_count = 11,         // ima.entry_count above max_ima_entries
  ima_offset_overflow = 12,     // ima.start_offset + entry_count overflows
  ima_data_missing = 13,        // ima.entry_count > 0 without data
  ima_format = 14,              // ima data that is neither ASCII nor BINARY
  ima_template_algorithm = 15,  // ima.template_hash_algorithm unknown
  ima_size = 16,                // ima.data above max_ima_bytes
  uefi_log_size = 17,           // uefi_log above max_uefi_log_bytes
  boot_time_range = 18,         // boot_time outside google.protobuf.Timestamp's range
  capabilities_lists = 19,      // capabilities: a list above max_list_items
  capabilities_version = 20,    // capabilities.agent_version above max_version_chars
  capabilities_boot_time = 21,  // capabilities.boot_time outside the Timestamp range
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace attest::evidence

template <>
struct std::is_error_code_enum<attest::evidence::errc> : std::true_type {};
