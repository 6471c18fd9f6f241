#include <fmt/format.h>

#include <limits>

#include "common/base/errors.h"
#include "common/evidence/evidence.h"

namespace attest::evidence {
namespace {

Error Bad(errc code, std::string message) { return MakeError(code, std::move(message)); }

// google.protobuf.Timestamp's valid range (0001-01-01 .. 9999-12-31).
bool ValidTimestamp(const google::protobuf::Timestamp& t) {
  return t.seconds() >= -62135596800 && t.seconds() <= 253402300799 && t.nanos() >= 0 &&
         t.nanos() <= 999'999'999;
}

Result<void> CheckQuote(const v1::Quote& q, const Limits& limits) {
  if (q.attest().empty() || q.attest().size() > limits.max_attest_bytes) {
    return Bad(errc::attest_size, fmt::format("quote.attest: {} bytes, expected 1..{}",
                                              q.attest().size(), limits.max_attest_bytes));
  }
  if (q.signature().empty() || q.signature().size() > limits.max_signature_bytes) {
    return Bad(errc::signature_size, fmt::format("quote.signature: {} bytes, expected 1..{}",
                                                 q.signature().size(), limits.max_signature_bytes));
  }
  if (q.pcrs_size() == 0 || static_cast<size_t>(q.pcrs_size()) > limits.max_banks) {
    return Bad(errc::bank_count, fmt::format("quote.pcrs: {} banks, expected 1..{}", q.pcrs_size(),
                                             limits.max_banks));
  }
  // Distinct algorithms: a bit each (HashAlgorithm values are small).
  uint64_t seen = 0;
  for (const auto& bank : q.pcrs()) {
    const size_t digest = DigestSize(bank.hash_algorithm());
    if (digest == 0) {
      return Bad(errc::bank_algorithm,
                 fmt::format("quote.pcrs: unsupported hash algorithm {}", bank.hash_algorithm()));
    }
    const uint64_t bit = uint64_t{1} << bank.hash_algorithm();
    if ((seen & bit) != 0) {
      return Bad(errc::bank_repeated,
                 fmt::format("quote.pcrs: bank {} given twice", bank.hash_algorithm()));
    }
    seen |= bit;
    if (bank.values().empty()) return Bad(errc::bank_empty, "quote.pcrs: a bank without values");
    for (const auto& [index, value] : bank.values()) {
      if (index > limits.max_pcr_index) {
        return Bad(errc::pcr_index, fmt::format("quote.pcrs: PCR index {} out of 0..{}", index,
                                                limits.max_pcr_index));
      }
      if (value.size() != digest || value.size() > limits.max_pcr_value_bytes) {
        return Bad(errc::pcr_value_size,
                   fmt::format("quote.pcrs: PCR {} of bank {} has {} bytes, expected {}", index,
                               bank.hash_algorithm(), value.size(), digest));
      }
    }
  }
  return Ok();
}

Result<void> CheckIma(const v1::ImaEntries& ima, const Limits& limits) {
  if (ima.entry_count() > limits.max_ima_entries) {
    return Bad(errc::ima_entry_count, fmt::format("ima.entry_count {} above {}", ima.entry_count(),
                                                  limits.max_ima_entries));
  }
  if (ima.start_offset() > std::numeric_limits<uint64_t>::max() - ima.entry_count()) {
    return Bad(errc::ima_offset_overflow, "ima: start_offset + entry_count overflows");
  }
  if (ima.entry_count() > 0 && ima.data().empty()) {
    return Bad(errc::ima_data_missing, "ima: entry_count > 0 without data");
  }
  if (!ima.data().empty() && ima.format() != v1::IMA_LOG_FORMAT_ASCII &&
      ima.format() != v1::IMA_LOG_FORMAT_BINARY) {
    return Bad(errc::ima_format, "ima.format must be ASCII or BINARY when data is sent");
  }
  if (ima.template_hash_algorithm() != v1::HASH_ALGORITHM_UNSPECIFIED &&
      DigestSize(ima.template_hash_algorithm()) == 0) {
    return Bad(errc::ima_template_algorithm,
               "ima.template_hash_algorithm is not a supported algorithm");
  }
  if (ima.data().size() > limits.max_ima_bytes) {
    return Bad(errc::ima_size, fmt::format("ima.data: {} bytes, above {}", ima.data().size(),
                                           limits.max_ima_bytes));
  }
  return Ok();
}

}  // namespace

Limits LimitsForBody(size_t max_body_bytes) {
  Limits l;
  l.max_ima_bytes = max_body_bytes;
  l.max_uefi_log_bytes = max_body_bytes;
  return l;
}

Limits WorkerLimits() {
  Limits l;
  l.max_banks = kMaxBanksCap;
  l.max_ima_bytes = kMaxBodyBytesCap;
  l.max_uefi_log_bytes = kMaxBodyBytesCap;
  return l;
}

Result<void> Validate(const Limits& l) {
  const Limits cap = WorkerLimits();
  auto bad = [](const char* field) {
    return MakeError(base::errc::invalid_value,
                     fmt::format("evidence limit {} is above what the worker accepts", field));
  };
  if (l.max_banks == 0)
    return MakeError(base::errc::invalid_value, "evidence limit max_banks is 0");
  if (l.max_banks > cap.max_banks) return bad("max_banks");
  if (l.max_pcr_index > cap.max_pcr_index) return bad("max_pcr_index");
  if (l.max_pcr_value_bytes > cap.max_pcr_value_bytes) return bad("max_pcr_value_bytes");
  if (l.max_ima_bytes > cap.max_ima_bytes) return bad("max_ima_bytes");
  if (l.max_uefi_log_bytes > cap.max_uefi_log_bytes) return bad("max_uefi_log_bytes");
  return Ok();
}

size_t DigestSize(int hash_algorithm) {
  switch (hash_algorithm) {
    case v1::HASH_ALGORITHM_SHA1:
      return 20;
    case v1::HASH_ALGORITHM_SHA256:
    case v1::HASH_ALGORITHM_SM3_256:
      return 32;
    case v1::HASH_ALGORITHM_SHA384:
      return 48;
    case v1::HASH_ALGORITHM_SHA512:
      return 64;
    default:
      return 0;
  }
}

Result<void> CheckCapabilities(const v1::AgentCapabilities& c, const Limits& limits) {
  if (static_cast<size_t>(c.hash_algorithms_size()) > limits.max_list_items ||
      static_cast<size_t>(c.signature_schemes_size()) > limits.max_list_items) {
    return Bad(errc::capabilities_lists,
               fmt::format("capabilities: more than {} hash algorithms or signature schemes",
                           limits.max_list_items));
  }
  if (c.agent_version().size() > limits.max_version_chars) {
    return Bad(errc::capabilities_version,
               fmt::format("capabilities: agent_version longer than {} characters",
                           limits.max_version_chars));
  }
  if (c.has_boot_time() && !ValidTimestamp(c.boot_time())) {
    return Bad(errc::capabilities_boot_time, "capabilities: boot_time out of range");
  }
  return Ok();
}

Result<void> CheckShape(const v1::Evidence& e, const Limits& limits) {
  if (e.challenge_token().empty()) return Bad(errc::token_missing, "challenge_token is missing");
  if (!e.has_quote()) return Bad(errc::quote_missing, "quote is missing");
  ATTEST_RETURN_IF_ERROR(CheckQuote(e.quote(), limits));
  if (e.has_ima()) ATTEST_RETURN_IF_ERROR(CheckIma(e.ima(), limits));
  if (e.uefi_log().size() > limits.max_uefi_log_bytes) {
    return Bad(errc::uefi_log_size, fmt::format("uefi_log: {} bytes, above {}", e.uefi_log().size(),
                                                limits.max_uefi_log_bytes));
  }
  if (e.has_boot_time() && !ValidTimestamp(e.boot_time())) {
    return Bad(errc::boot_time_range, "boot_time out of range");
  }
  if (e.has_capabilities()) return CheckCapabilities(e.capabilities(), limits);
  return Ok();
}

}  // namespace attest::evidence
