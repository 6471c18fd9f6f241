#include "agent/tpm.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <map>

#include "agent/errors.h"
#include "common/esys/context.h"
#include "common/esys/errors.h"
#include "common/esys/keys.h"
#include "common/esys/pcr.h"
#include "common/esys/quote.h"

namespace attest::agent {
namespace {

Error TpmError(const Error& e) { return MakeError(errc::tpm_error, e.message); }

Result<std::vector<v1::HashAlgorithm>> ReadActiveBanks(const esys::EsysContext& ctx) {
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* data_raw = nullptr;
  TSS2_RC rc = Esys_GetCapability(ctx.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  TPM2_CAP_PCRS, 0, 1, &more, &data_raw);
  esys::EsysPtr<TPMS_CAPABILITY_DATA> data(data_raw);
  if (rc != TSS2_RC_SUCCESS) return esys::TssError(rc, "TPM2_GetCapability(PCRS)");
  std::vector<v1::HashAlgorithm> out;
  const TPML_PCR_SELECTION& sel = data->data.assignedPCR;
  for (uint32_t i = 0; i < sel.count && i < TPM2_NUM_PCR_BANKS; ++i) {
    const auto& s = sel.pcrSelections[i];
    bool any = false;
    for (uint8_t b = 0; b < s.sizeofSelect && b < sizeof s.pcrSelect; ++b) any |= s.pcrSelect[b];
    v1::HashAlgorithm alg = ProtoHashAlg(s.hash);
    if (any && alg != v1::HASH_ALGORITHM_UNSPECIFIED) out.push_back(alg);
  }
  return out;
}

struct BankRequest {
  TPMI_ALG_HASH alg;
  std::vector<uint32_t> pcrs;
};

using PcrSnapshot = std::map<TPMI_ALG_HASH, std::vector<esys::PcrValue>>;

Result<PcrSnapshot> ReadAll(const esys::EsysContext& ctx, const std::vector<BankRequest>& banks) {
  PcrSnapshot out;
  for (const auto& b : banks) {
    auto v = esys::ReadPcrs(ctx, b.alg, b.pcrs);
    if (!v) return v.error();
    out[b.alg] = std::move(v).value();
  }
  return out;
}

bool SameValues(const PcrSnapshot& a, const PcrSnapshot& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [alg, values] : a) {
    auto it = b.find(alg);
    if (it == b.end() || it->second.size() != values.size()) return false;
    for (size_t i = 0; i < values.size(); ++i) {
      if (values[i].index != it->second[i].index || values[i].digest != it->second[i].digest) {
        return false;
      }
    }
  }
  return true;
}

// The agent's TPM through one tpm2-tss ESAPI context.
class TssTpm final : public AgentTpm {
 public:
  static Result<std::unique_ptr<AgentTpm>> Open(const TpmOptions& options);

  const Bytes& ek_public() const override { return ek_->public_bytes; }
  const Bytes& ek_cert() const override { return ek_cert_; }
  const Bytes& ak_public() const override { return ak_->public_bytes; }
  const Bytes& ak_name() const override { return ak_->name; }
  v1::SignatureScheme signature_scheme() const override { return scheme_; }
  const std::vector<v1::HashAlgorithm>& active_banks() const override { return banks_; }

  Result<Bytes> Activate(const Bytes& credential_blob, const Bytes& encrypted_secret) override;
  Result<v1::Quote> Quote(
      const Bytes& nonce,
      const google::protobuf::RepeatedPtrField<v1::PcrSelection>& selection) override;

 private:
  explicit TssTpm(esys::EsysContext ctx) : ctx_(std::move(ctx)) {}

  esys::EsysContext ctx_;        // first: outlives the keys flushed through it
  std::optional<esys::Key> ek_;  // set by Open()
  std::optional<esys::Key> ak_;
  Bytes ek_cert_;
  v1::SignatureScheme scheme_ = v1::SIGNATURE_SCHEME_UNSPECIFIED;
  std::vector<v1::HashAlgorithm> banks_;
};

Result<std::unique_ptr<AgentTpm>> TssTpm::Open(const TpmOptions& o) {
  auto ctx = esys::EsysContext::Open(o.tcti);
  if (!ctx) return TpmError(ctx.error());
  std::unique_ptr<TssTpm> tpm(new TssTpm(std::move(ctx).value()));
  esys::KeyType ek_type = o.ek_type == "ecc" ? esys::KeyType::kEccP256 : esys::KeyType::kRsa2048;
  auto ek = esys::CreateEk(tpm->ctx_, ek_type);
  if (!ek) return TpmError(ek.error());
  tpm->ek_.emplace(std::move(ek).value());
  auto cert = esys::ReadEkCertificate(tpm->ctx_, ek_type);
  if (cert) {
    tpm->ek_cert_ = std::move(cert).value();
  } else if (cert.error().code == esys::errc::not_found) {
    spdlog::info("no EK certificate in TPM NV for the {} EK; registering without one", o.ek_type);
  } else {
    return TpmError(cert.error());
  }
  esys::KeyType ak_type = o.ak_type == "ecc" ? esys::KeyType::kEccP256 : esys::KeyType::kRsa2048;
  esys::SigScheme scheme = o.ak_type == "ecc" ? esys::SigScheme::kEcdsa : esys::SigScheme::kRsaSsa;
  auto ak = esys::LoadOrCreateAk(tpm->ctx_, *tpm->ek_, o.ak_path, ak_type, scheme);
  if (!ak) return TpmError(ak.error());
  tpm->ak_.emplace(std::move(ak).value());
  tpm->scheme_ = o.ak_type == "ecc" ? v1::SIGNATURE_SCHEME_ECDSA : v1::SIGNATURE_SCHEME_RSASSA;
  auto banks = ReadActiveBanks(tpm->ctx_);
  if (!banks) return TpmError(banks.error());
  tpm->banks_ = std::move(banks).value();
  return std::unique_ptr<AgentTpm>(std::move(tpm));
}

Result<Bytes> TssTpm::Activate(const Bytes& blob, const Bytes& secret) {
  auto r = esys::ActivateCredential(ctx_, *ak_, *ek_, blob, secret);
  if (!r) return TpmError(r.error());
  return std::move(r).value();
}

Result<v1::Quote> TssTpm::Quote(
    const Bytes& nonce, const google::protobuf::RepeatedPtrField<v1::PcrSelection>& selection) {
  if (nonce.size() > kMaxNonceBytes) {
    return MakeError(errc::invalid_challenge,
                     "challenge token is " + std::to_string(nonce.size()) +
                         " bytes, but a quote's qualifyingData (TPM2B_DATA) holds at most " +
                         std::to_string(kMaxNonceBytes));
  }
  if (selection.empty() || selection.size() > TPM2_NUM_PCR_BANKS) {
    return MakeError(errc::invalid_challenge,
                     "challenge selects " + std::to_string(selection.size()) +
                         " PCR banks (need 1.." + std::to_string(TPM2_NUM_PCR_BANKS) + ")");
  }
  std::vector<BankRequest> banks;
  TPML_PCR_SELECTION sel{};
  for (const auto& s : selection) {
    TPMI_ALG_HASH alg = TpmHashAlg(s.hash_algorithm());
    if (alg == TPM2_ALG_NULL) {
      return MakeError(errc::invalid_challenge, "challenge selects an unknown PCR bank " +
                                                    std::to_string(s.hash_algorithm()));
    }
    for (const auto& b : banks) {
      if (b.alg == alg) {
        return MakeError(errc::invalid_challenge, "challenge selects a PCR bank twice");
      }
    }
    std::vector<uint32_t> pcrs(s.pcrs().begin(), s.pcrs().end());
    auto one = esys::MakePcrSelection(alg, pcrs);
    if (!one) return MakeError(errc::invalid_challenge, "challenge: " + one.error().message);
    sel.pcrSelections[sel.count++] = one->pcrSelections[0];
    banks.push_back({alg, std::move(pcrs)});
  }

  TPM2B_DATA qualifying{};
  qualifying.size = static_cast<UINT16>(nonce.size());
  if (!nonce.empty()) std::memcpy(qualifying.buffer, nonce.data(), nonce.size());
  TPMT_SIG_SCHEME scheme{};
  scheme.scheme = TPM2_ALG_NULL;  // the AK's own scheme

  for (int attempt = 0; attempt < 3; ++attempt) {
    auto before = ReadAll(ctx_, banks);
    if (!before) return TpmError(before.error());
    TPM2B_ATTEST* quoted_raw = nullptr;
    TPMT_SIGNATURE* sig_raw = nullptr;
    TSS2_RC rc = Esys_Quote(ctx_.get(), ak_->handle.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE,
                            ESYS_TR_NONE, &qualifying, &scheme, &sel, &quoted_raw, &sig_raw);
    esys::EsysPtr<TPM2B_ATTEST> quoted(quoted_raw);
    esys::EsysPtr<TPMT_SIGNATURE> sig(sig_raw);
    if (rc != TSS2_RC_SUCCESS) return TpmError(esys::TssError(rc, "TPM2_Quote"));
    auto after = ReadAll(ctx_, banks);
    if (!after) return TpmError(after.error());
    if (!SameValues(*before, *after)) {
      spdlog::debug("PCRs changed during the quote; quoting again");
      continue;
    }
    auto sig_bytes = esys::Marshal(*sig, Tss2_MU_TPMT_SIGNATURE_Marshal);
    if (!sig_bytes) return TpmError(sig_bytes.error());
    v1::Quote out;
    out.set_attest(
        std::string(reinterpret_cast<const char*>(quoted->attestationData), quoted->size));
    out.set_signature(std::string(sig_bytes->begin(), sig_bytes->end()));
    for (const auto& [alg, values] : *after) {
      v1::PcrBank* bank = out.add_pcrs();
      bank->set_hash_algorithm(ProtoHashAlg(alg));
      for (const auto& v : values) {
        (*bank->mutable_values())[v.index] = std::string(v.digest.begin(), v.digest.end());
      }
    }
    return out;
  }
  return MakeError(errc::tpm_error, "PCRs kept changing during three quotes in a row");
}

}  // namespace

Result<std::unique_ptr<AgentTpm>> AgentTpm::Open(const TpmOptions& options) {
  return TssTpm::Open(options);
}

}  // namespace attest::agent
