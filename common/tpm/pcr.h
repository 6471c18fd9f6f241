// PCR selections and values: the bank -> index -> digest map that quote
// verification consumes, helpers over TPML_PCR_SELECTION, and the parser for
// the PCR file `tpm2_quote -o` / `tpm2_pcrread -o` write (tpm2-tools 5.x
// "serialized" format).
//
// Thread-safety: pure functions.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/tpm/marshal.h"

namespace attest::tpm {

using PcrBank = std::map<uint32_t, Bytes>;           // PCR index -> digest
using PcrValues = std::map<TPMI_ALG_HASH, PcrBank>;  // bank (TPM2_ALG_SHA256, ...) -> values

// One bank of a selection: its hash and selected PCR indices, ascending.
struct BankSelection {
  TPMI_ALG_HASH hash = TPM2_ALG_NULL;
  std::vector<uint32_t> pcrs;
};

// Banks in TPML order; indices ascending (the order the TPM hashes them in).
std::vector<BankSelection> SelectionToList(const TPML_PCR_SELECTION& sel);
// "sha256:0,1,2+sha384:10", as tpm2-tools prints selections.
std::string FormatSelection(const TPML_PCR_SELECTION& sel);

// The tpm2-tools "serialized" PCR file. tpm2-tools fwrite()s its in-memory
// structs, little-endian (lib/pcr.c pcr_fwrite_serialized):
//   TPML_PCR_SELECTION  132 bytes: u32 count, 16 x {u16 hash, u8 sizeofSelect,
//                       u8 pcrSelect[4], 1 byte padding}
//   u32 n               number of TPML_DIGEST blocks that follow
//   n x TPML_DIGEST     532 bytes each: u32 count, 8 x {u16 size, u8 buffer[64]}
// The digests, flattened across blocks, are the selected PCRs in selection
// order (banks in order, indices ascending). The parser checks every count
// and size and that the digests match the selection one to one.
struct Tpm2ToolsPcrFile {
  TPML_PCR_SELECTION selection{};
  PcrValues values;
};
Result<Tpm2ToolsPcrFile> ParseTpm2ToolsPcrFile(ByteView bytes);

// The inverse, for tests and tools (values must cover `selection` exactly).
Result<Bytes> SerializeTpm2ToolsPcrFile(const TPML_PCR_SELECTION& selection,
                                        const PcrValues& values);

}  // namespace attest::tpm
