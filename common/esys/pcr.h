// PCR access over ESAPI: read a set of PCRs of one bank, extend one PCR.
//
// Thread-safety: as EsysContext (one thread per context).
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/esys/context.h"

namespace attest::esys {

struct PcrValue {
  uint32_t index = 0;
  std::vector<uint8_t> digest;
};

// "sha1", "sha256", "sha384", "sha512", "sm3_256" -> TPM2_ALG_ID.
std::optional<TPMI_ALG_HASH> HashAlgFromName(std::string_view name);
// (Digest sizes: tpm::HashAlgDigestSize in common/tpm/marshal.h.)

// Reads PCRs `indexes` (each < 24, duplicates ignored) of `bank`; returns them
// sorted by index. The TPM returns at most 8 digests per TPM2_PCR_Read, so this
// loops until all are read; an index the TPM does not have (bank inactive) is
// an error, as is a change of pcrUpdateCounter between the reads (a
// concurrent extend would mix PCR states).
Result<std::vector<PcrValue>> ReadPcrs(const EsysContext& ctx, TPMI_ALG_HASH bank,
                                       const std::vector<uint32_t>& indexes);

// Extends PCR `index` of `bank` with `digest` (its size must match the bank).
Result<void> ExtendPcr(const EsysContext& ctx, uint32_t index, TPMI_ALG_HASH bank,
                       const std::vector<uint8_t>& digest);

// Builds a TPML_PCR_SELECTION of one bank (indexes < 24).
Result<TPML_PCR_SELECTION> MakePcrSelection(TPMI_ALG_HASH bank,
                                            const std::vector<uint32_t>& indexes);

}  // namespace attest::esys
