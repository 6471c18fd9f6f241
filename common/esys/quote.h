// TPM2_Quote and TPM2_ActivateCredential with keys from keys.h.
//
// Thread-safety: as EsysContext (one thread per context).
#pragma once

#include <cstdint>
#include <vector>

#include "common/base/result.h"
#include "common/esys/context.h"
#include "common/esys/keys.h"
#include "common/esys/marshal.h"

namespace attest::esys {

struct QuoteResult {
  Bytes attest;     // marshalled TPMS_ATTEST (the contents of TPM2B_ATTEST)
  Bytes signature;  // marshalled TPMT_SIGNATURE
};

// Quotes PCRs `indexes` of `bank` with the AK, `nonce` as qualifying data (at
// most 64 bytes). The AK's own scheme signs (RSASSA, RSAPSS or ECDSA, SHA-256).
// The PCR values are not returned: read them with ReadPcrs() and let the
// verifier check them against the quote's pcrDigest (repeat on a mismatch,
// a PCR may have been extended in between).
Result<QuoteResult> Quote(const EsysContext& ctx, const Key& ak, const Bytes& nonce,
                          TPMI_ALG_HASH bank, const std::vector<uint32_t>& indexes);

// Recovers the secret of a MakeCredential for (ek, ak name).
// `credential_blob` is a marshalled TPM2B_ID_OBJECT, `encrypted_secret` a
// marshalled TPM2B_ENCRYPTED_SECRET (both with their 2-byte size prefixes).
// Fails (errc::tss_error) when the blob was made for another EK or AK name.
Result<Bytes> ActivateCredential(const EsysContext& ctx, const Key& ak, const Key& ek,
                                 const Bytes& credential_blob, const Bytes& encrypted_secret);

}  // namespace attest::esys
