#include "common/checks/selection.h"

#include <algorithm>

#include "common/tpm/marshal.h"
#include "common/tpm/pcr.h"

namespace attest::checks {
namespace {

bool Contains(const std::vector<TPMI_ALG_HASH>& v, TPMI_ALG_HASH h) {
  return std::find(v.begin(), v.end(), h) != v.end();
}

std::vector<std::string> BankNames(const std::vector<TPMI_ALG_HASH>& banks) {
  std::vector<std::string> out;
  for (auto b : banks) out.push_back(tpm::HashAlgName(b));
  return out;
}

// "0-7,10" for a mask.
std::string FormatMask(uint32_t mask) {
  std::string out;
  for (uint32_t i = 0; i < 32;) {
    if ((mask & (1u << i)) == 0) {
      ++i;
      continue;
    }
    uint32_t j = i;
    while (j + 1 < 32 && (mask & (1u << (j + 1))) != 0) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(i);
    if (j > i) out += '-' + std::to_string(j);
    i = j + 1;
  }
  return out;
}

// "sha256:4", "sha256:10", ... for the PCRs of `mask` in `bank`.
void AddLabels(TPMI_ALG_HASH bank, uint32_t mask, std::vector<std::string>& out) {
  for (uint32_t i = 0; i < 32; ++i) {
    if ((mask & (1u << i)) != 0) out.push_back(tpm::HashAlgName(bank) + ":" + std::to_string(i));
  }
}

// The banks of `need` that `allowed` accepts.
std::vector<TPMI_ALG_HASH> Usable(const SelectionNeeds::Need& need,
                                  const std::vector<TPMI_ALG_HASH>& allowed) {
  std::vector<TPMI_ALG_HASH> out;
  for (auto b : need.banks) {
    if (Contains(allowed, b)) out.push_back(b);
  }
  return out;
}

// Needs that `masks` leaves unmet, as labels ("sha256:4") in `missing` and
// reasons in `reasons`. For a need with several acceptable banks the labels
// name the bank that comes closest (the first one quoted, else the first).
void Shortfall(const SelectionNeeds& needs, const PcrMasks& masks,
               std::vector<std::string>& missing, std::vector<std::string>& reasons) {
  for (const auto& need : needs.needs) {
    const auto usable = Usable(need, needs.allowed);
    bool met = false;
    std::optional<TPMI_ALG_HASH> closest;
    for (auto b : usable) {
      auto it = masks.find(b);
      if (it == masks.end()) continue;
      if ((it->second & need.pcrs) == need.pcrs) {
        met = true;
        break;
      }
      if (!closest) closest = b;
    }
    if (met) continue;
    if (usable.empty()) {
      // A policy naming a bank the verifier does not accept: no selection
      // can give it (an operator's policy to fix).
      std::vector<std::string> labels;
      for (auto b : need.banks) AddLabels(b, need.pcrs, labels);
      for (auto& l : labels) missing.push_back(l + " (bank not accepted)");
    } else {
      const TPMI_ALG_HASH bank = closest ? *closest : usable.front();
      auto it = masks.find(bank);
      const uint32_t have = it == masks.end() ? 0 : it->second;
      AddLabels(bank, need.pcrs & ~have, missing);
    }
    if (std::find(reasons.begin(), reasons.end(), need.reason) == reasons.end()) {
      reasons.push_back(need.reason);
    }
  }
}

}  // namespace

const std::vector<TPMI_ALG_HASH>& DefaultAllowedBanks() {
  static const std::vector<TPMI_ALG_HASH> kBanks = {TPM2_ALG_SHA256, TPM2_ALG_SHA384,
                                                    TPM2_ALG_SHA512};
  return kBanks;
}

PcrMasks MasksOf(const TPML_PCR_SELECTION& selection) {
  PcrMasks out;
  for (const auto& bank : tpm::SelectionToList(selection)) {
    uint32_t& m = out[bank.hash];  // a bank listed with no PCRs is still listed
    for (uint32_t p : bank.pcrs) {
      if (p < 32) m |= 1u << p;
    }
  }
  return out;
}

std::string FormatMasks(const PcrMasks& masks) {
  std::string out;
  for (const auto& [bank, mask] : masks) {
    if (!out.empty()) out += '+';
    out += tpm::HashAlgName(bank) + ':' + FormatMask(mask);
  }
  return out.empty() ? "none" : out;
}

SelectionNeeds NeedsOf(const PolicyInputs& in) {
  SelectionNeeds out;
  out.allowed = in.allowed_banks.empty() ? DefaultAllowedBanks() : in.allowed_banks;
  if (in.measured_boot_bank) {
    out.needs.push_back({"measured_boot", {*in.measured_boot_bank}, in.measured_boot_pcrs});
  }
  if (in.ima) {
    // The IMA replay can use any of the four hash banks (verifier::ImaHashAlg).
    std::vector<TPMI_ALG_HASH> banks;
    for (auto b : out.allowed) {
      if (b == TPM2_ALG_SHA1 || b == TPM2_ALG_SHA256 || b == TPM2_ALG_SHA384 ||
          b == TPM2_ALG_SHA512) {
        banks.push_back(b);
      }
    }
    out.needs.push_back({"ima", std::move(banks), kImaPcrMask});
  }
  if (in.pcr_policy != nullptr) {
    for (const auto& [bank, pcrs] : in.pcr_policy->allowed) {
      uint32_t mask = 0;
      for (const auto& [pcr, values] : pcrs) {
        if (pcr < 32) mask |= 1u << pcr;
      }
      if (mask != 0) out.needs.push_back({"pcr_policy", {bank}, mask});
    }
  }
  return out;
}

std::optional<Failure> CheckRequested(const SelectionNeeds& needs,
                                      const RequestedSelection& requested) {
  const PcrMasks asked = {{requested.bank, requested.pcrs}};
  std::vector<std::string> missing, reasons;
  std::string message;
  if (!Contains(needs.allowed, requested.bank)) {
    message = "the challenge asked for the " + tpm::HashAlgName(requested.bank) +
              " bank, which the verifier does not accept";
    reasons.push_back("allowed_banks");
  } else {
    Shortfall(needs, asked, missing, reasons);
    if (missing.empty()) return std::nullopt;
    message = "the challenge asked for fewer PCRs than the agent's policies need";
  }
  return Failure{kInsufficientSelection,
                 Severity::kError,
                 {{"message", message + ": the gateway's fault, not the agent's"},
                  {"requested", FormatMasks(asked)},
                  {"missing", std::move(missing)},
                  {"needed_by", std::move(reasons)},
                  {"allowed_banks", BankNames(needs.allowed)}}};
}

std::optional<Failure> CheckQuoted(const SelectionNeeds& needs,
                                   const std::optional<RequestedSelection>& requested,
                                   const TPML_PCR_SELECTION& quoted) {
  const PcrMasks got = MasksOf(quoted);
  if (requested) {
    std::vector<std::string> missing, extra_banks;
    auto it = got.find(requested->bank);
    const uint32_t have = it == got.end() ? 0 : it->second;
    AddLabels(requested->bank, requested->pcrs & ~have, missing);
    for (const auto& [bank, mask] : got) {
      if (bank != requested->bank) extra_banks.push_back(tpm::HashAlgName(bank));
    }
    if (missing.empty() && extra_banks.empty()) return std::nullopt;
    return Failure{kSelectionMismatch,
                   Severity::kError,
                   {{"message", "the quote does not cover what the challenge asked"},
                    {"requested", FormatMasks({{requested->bank, requested->pcrs}})},
                    {"quoted", FormatMasks(got)},
                    {"missing", std::move(missing)},
                    {"unrequested_banks", std::move(extra_banks)}}};
  }
  // A version-1 token: the quote's selection is what an unchecked challenge
  // asked for.
  std::vector<std::string> missing, reasons, bad_banks;
  for (const auto& [bank, mask] : got) {
    if (!Contains(needs.allowed, bank)) bad_banks.push_back(tpm::HashAlgName(bank));
  }
  Shortfall(needs, got, missing, reasons);
  if (missing.empty() && bad_banks.empty()) return std::nullopt;
  if (!bad_banks.empty()) reasons.push_back("allowed_banks");
  return Failure{kInsufficientSelection,
                 Severity::kError,
                 {{"message",
                   "the quote (challenge token without a PCR binding) does not cover what the "
                   "agent's policies need, or covers a bank the verifier does not accept"},
                  {"quoted", FormatMasks(got)},
                  {"missing", std::move(missing)},
                  {"banks_not_accepted", std::move(bad_banks)},
                  {"needed_by", std::move(reasons)},
                  {"allowed_banks", BankNames(needs.allowed)}}};
}

std::optional<Failure> CheckQuoted(const SelectionNeeds& needs,
                                   const std::optional<RequestedSelection>& requested,
                                   tpm::ByteView quote, tpm::ByteView signature) {
  auto attest = tpm::ParseAttest(quote);
  auto sig = tpm::ParseSignature(signature);
  if (!attest || !sig || attest->type != TPM2_ST_ATTEST_QUOTE) return std::nullopt;
  TPMI_ALG_HASH hash = TPM2_ALG_NULL;
  switch (sig->sigAlg) {
    case TPM2_ALG_RSASSA:
      hash = sig->signature.rsassa.hash;
      break;
    case TPM2_ALG_RSAPSS:
      hash = sig->signature.rsapss.hash;
      break;
    case TPM2_ALG_ECDSA:
      hash = sig->signature.ecdsa.hash;
      break;
    default:
      return std::nullopt;  // VerifyQuote has refused it already
  }
  if (!Contains(needs.allowed, hash)) return std::nullopt;
  return CheckQuoted(needs, requested, attest->attested.quote.pcrSelect);
}

}  // namespace attest::checks
