#include "common/evidence/errors.h"

#include <string>

namespace attest::evidence {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.evidence"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::token_missing:
        return "challenge token missing";
      case errc::quote_missing:
        return "quote missing";
      case errc::attest_size:
        return "quote attest size out of range";
      case errc::signature_size:
        return "quote signature size out of range";
      case errc::bank_count:
        return "PCR bank count out of range";
      case errc::bank_algorithm:
        return "unknown PCR bank hash algorithm";
      case errc::bank_repeated:
        return "PCR bank given twice";
      case errc::bank_empty:
        return "PCR bank without values";
      case errc::pcr_index:
        return "PCR index out of range";
      case errc::pcr_value_size:
        return "PCR value of the wrong size";
      case errc::ima_entry_count:
        return "IMA entry count too large";
      case errc::ima_offset_overflow:
        return "IMA offset overflows";
      case errc::ima_data_missing:
        return "IMA entries without data";
      case errc::ima_format:
        return "IMA data of unknown format";
      case errc::ima_template_algorithm:
        return "unknown IMA template hash algorithm";
      case errc::ima_size:
        return "IMA data too large";
      case errc::uefi_log_size:
        return "UEFI log too large";
      case errc::boot_time_range:
        return "boot time out of range";
      case errc::capabilities_lists:
        return "capabilities list too long";
      case errc::capabilities_version:
        return "agent version too long";
      case errc::capabilities_boot_time:
        return "capabilities boot time out of range";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

}  // namespace attest::evidence
