#include "common/esys/quote.h"

#include <cstring>

#include "common/esys/errors.h"
#include "common/esys/pcr.h"

namespace attest::esys {

Result<QuoteResult> Quote(const EsysContext& ctx, const Key& ak, const Bytes& nonce,
                          TPMI_ALG_HASH bank, const std::vector<uint32_t>& indexes) {
  TPM2B_DATA qualifying{};
  if (nonce.size() > sizeof qualifying.buffer) {
    return MakeError(errc::invalid_argument, "quote nonce longer than 64 bytes");
  }
  qualifying.size = static_cast<UINT16>(nonce.size());
  if (!nonce.empty()) std::memcpy(qualifying.buffer, nonce.data(), nonce.size());
  auto sel = MakePcrSelection(bank, indexes);
  if (!sel) return sel.error();
  TPMT_SIG_SCHEME scheme{};
  scheme.scheme = TPM2_ALG_NULL;  // use the AK's scheme
  TPM2B_ATTEST* quoted_raw = nullptr;
  TPMT_SIGNATURE* sig_raw = nullptr;
  TSS2_RC rc = Esys_Quote(ctx.get(), ak.handle.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                          &qualifying, &scheme, &*sel, &quoted_raw, &sig_raw);
  EsysPtr<TPM2B_ATTEST> quoted(quoted_raw);
  EsysPtr<TPMT_SIGNATURE> sig(sig_raw);
  if (rc != TSS2_RC_SUCCESS) return TssError(rc, "TPM2_Quote");
  QuoteResult out;
  out.attest.assign(quoted->attestationData, quoted->attestationData + quoted->size);
  auto sig_bytes = Marshal(*sig, Tss2_MU_TPMT_SIGNATURE_Marshal);
  if (!sig_bytes) return sig_bytes.error();
  out.signature = std::move(sig_bytes).value();
  return out;
}

Result<Bytes> ActivateCredential(const EsysContext& ctx, const Key& ak, const Key& ek,
                                 const Bytes& credential_blob, const Bytes& encrypted_secret) {
  auto blob = Unmarshal<TPM2B_ID_OBJECT>(credential_blob, Tss2_MU_TPM2B_ID_OBJECT_Unmarshal,
                                         "credential blob (TPM2B_ID_OBJECT)");
  if (!blob) return blob.error();
  auto secret =
      Unmarshal<TPM2B_ENCRYPTED_SECRET>(encrypted_secret, Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal,
                                        "encrypted secret (TPM2B_ENCRYPTED_SECRET)");
  if (!secret) return secret.error();
  auto session = StartEkPolicySession(ctx);
  if (!session) return session.error();
  TPM2B_DIGEST* cert_info_raw = nullptr;
  // The AK (activateHandle, admin role) authorises with its empty password,
  // the EK (keyHandle) with the PolicySecret session.
  TSS2_RC rc =
      Esys_ActivateCredential(ctx.get(), ak.handle.get(), ek.handle.get(), ESYS_TR_PASSWORD,
                              session->get(), ESYS_TR_NONE, &*blob, &*secret, &cert_info_raw);
  EsysPtr<TPM2B_DIGEST> cert_info(cert_info_raw);
  if (rc != TSS2_RC_SUCCESS) return TssError(rc, "TPM2_ActivateCredential");
  return Bytes(cert_info->buffer, cert_info->buffer + cert_info->size);
}

}  // namespace attest::esys
