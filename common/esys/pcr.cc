#include "common/esys/pcr.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>

#include "common/esys/errors.h"
#include "common/tpm/marshal.h"

namespace attest::esys {
namespace {

constexpr uint32_t kMaxPcr = 24;
constexpr uint8_t kSelectBytes = 3;

}  // namespace

std::optional<TPMI_ALG_HASH> HashAlgFromName(std::string_view name) {
  if (name == "sha1") return TPM2_ALG_SHA1;
  if (name == "sha256") return TPM2_ALG_SHA256;
  if (name == "sha384") return TPM2_ALG_SHA384;
  if (name == "sha512") return TPM2_ALG_SHA512;
  if (name == "sm3_256") return TPM2_ALG_SM3_256;
  return std::nullopt;
}

Result<TPML_PCR_SELECTION> MakePcrSelection(TPMI_ALG_HASH bank,
                                            const std::vector<uint32_t>& indexes) {
  if (tpm::HashAlgDigestSize(bank) == 0) {
    return MakeError(errc::invalid_argument,
                     "PCR selection: unsupported hash algorithm " + std::to_string(bank));
  }
  TPML_PCR_SELECTION sel{};
  sel.count = 1;
  sel.pcrSelections[0].hash = bank;
  sel.pcrSelections[0].sizeofSelect = kSelectBytes;
  for (uint32_t i : indexes) {
    if (i >= kMaxPcr) {
      return MakeError(errc::invalid_argument,
                       "PCR selection: index " + std::to_string(i) + " out of range 0..23");
    }
    sel.pcrSelections[0].pcrSelect[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
  }
  return sel;
}

Result<std::vector<PcrValue>> ReadPcrs(const EsysContext& ctx, TPMI_ALG_HASH bank,
                                       const std::vector<uint32_t>& indexes) {
  auto want = MakePcrSelection(bank, indexes);
  if (!want) return want.error();
  TPML_PCR_SELECTION remaining = *want;
  std::map<uint32_t, std::vector<uint8_t>> values;
  std::optional<uint32_t> counter;
  auto any_left = [&] {
    const auto& s = remaining.pcrSelections[0].pcrSelect;
    return (s[0] | s[1] | s[2]) != 0;
  };
  // Each round reads at least one PCR or fails, so at most 24 rounds.
  for (int round = 0; any_left() && round < static_cast<int>(kMaxPcr); ++round) {
    UINT32 update_counter = 0;
    TPML_PCR_SELECTION* out_sel_raw = nullptr;
    TPML_DIGEST* digests_raw = nullptr;
    TSS2_RC rc = Esys_PCR_Read(ctx.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &remaining,
                               &update_counter, &out_sel_raw, &digests_raw);
    EsysPtr<TPML_PCR_SELECTION> out_sel(out_sel_raw);
    EsysPtr<TPML_DIGEST> digests(digests_raw);
    if (rc != TSS2_RC_SUCCESS) return TssError(rc, "TPM2_PCR_Read");
    if (!out_sel || !digests) return MakeError(errc::mismatch, "TPM2_PCR_Read: no output");
    if (counter && *counter != update_counter) {
      return MakeError(errc::mismatch, "TPM2_PCR_Read: PCRs changed while reading them");
    }
    counter = update_counter;
    // Digests come in the order of the returned selection: bank by bank,
    // then PCR index ascending.
    uint32_t d = 0;
    bool progress = false;
    for (uint32_t b = 0; b < out_sel->count && b < TPM2_NUM_PCR_BANKS; ++b) {
      const TPMS_PCR_SELECTION& s = out_sel->pcrSelections[b];
      for (uint32_t i = 0; i < kMaxPcr && i / 8 < s.sizeofSelect; ++i) {
        if (!(s.pcrSelect[i / 8] & (1u << (i % 8)))) continue;
        if (d >= digests->count) {
          return MakeError(errc::mismatch, "TPM2_PCR_Read: fewer digests than selected PCRs");
        }
        const TPM2B_DIGEST& dg = digests->digests[d++];
        if (s.hash != bank) continue;
        if (dg.size != tpm::HashAlgDigestSize(bank)) {
          return MakeError(errc::mismatch, "TPM2_PCR_Read: digest of PCR " + std::to_string(i) +
                                               " has the wrong size");
        }
        auto& rsel = remaining.pcrSelections[0].pcrSelect[i / 8];
        if (!(rsel & (1u << (i % 8)))) continue;  // not asked for
        rsel = static_cast<uint8_t>(rsel & ~(1u << (i % 8)));
        values[i] = std::vector<uint8_t>(dg.buffer, dg.buffer + dg.size);
        progress = true;
      }
    }
    if (!progress) {
      return MakeError(errc::not_found,
                       "TPM2_PCR_Read: the TPM returned none of the requested PCRs of bank " +
                           std::to_string(bank) + " (bank not active?)");
    }
  }
  std::vector<PcrValue> result;
  result.reserve(values.size());
  for (auto& [i, v] : values) result.push_back(PcrValue{i, std::move(v)});
  return result;
}

Result<void> ExtendPcr(const EsysContext& ctx, uint32_t index, TPMI_ALG_HASH bank,
                       const std::vector<uint8_t>& digest) {
  if (index >= kMaxPcr) {
    return MakeError(errc::invalid_argument, "PCR extend: index out of range");
  }
  size_t size = tpm::HashAlgDigestSize(bank);
  if (size == 0 || digest.size() != size) {
    return MakeError(errc::invalid_argument, "PCR extend: digest size does not match the bank");
  }
  TPML_DIGEST_VALUES values{};
  values.count = 1;
  values.digests[0].hashAlg = bank;
  std::memcpy(&values.digests[0].digest, digest.data(), size);
  // PCR handles 0..23 are also their ESYS_TR values (ESYS_TR_PCR0 == 0).
  TSS2_RC rc = Esys_PCR_Extend(ctx.get(), ESYS_TR_PCR0 + index, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, &values);
  if (rc != TSS2_RC_SUCCESS) return TssError(rc, "TPM2_PCR_Extend PCR " + std::to_string(index));
  return Ok();
}

}  // namespace attest::esys
