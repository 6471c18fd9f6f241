#include "common/verify/quote.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "common/tpm/tpm_crypto.h"

namespace attest::verify {
namespace {

using nlohmann::json;
using tpm::Bytes;
using tpm::ByteView;
using tpm::ToHex;

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};

const std::vector<TPMI_ALG_HASH> kDefaultAllowed = {TPM2_ALG_SHA256, TPM2_ALG_SHA384,
                                                    TPM2_ALG_SHA512};

std::string SigAlgName(TPMI_ALG_SIG_SCHEME alg) {
  switch (alg) {
    case TPM2_ALG_RSASSA:
      return "rsassa";
    case TPM2_ALG_RSAPSS:
      return "rsapss";
    case TPM2_ALG_ECDSA:
      return "ecdsa";
    default:
      return "alg " + std::to_string(alg);
  }
}

// r and s as the DER ECDSA-Sig-Value OpenSSL verifies.
bool EcdsaToDer(const TPMS_SIGNATURE_ECC& ecc, Bytes* der) {
  std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> sig(ECDSA_SIG_new());
  if (!sig || ecc.signatureR.size == 0 || ecc.signatureS.size == 0) return false;
  BIGNUM* r = BN_bin2bn(ecc.signatureR.buffer, ecc.signatureR.size, nullptr);
  BIGNUM* s = BN_bin2bn(ecc.signatureS.buffer, ecc.signatureS.size, nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return false;
  der->resize(static_cast<size_t>(len));
  uint8_t* p = der->data();
  return i2d_ECDSA_SIG(sig.get(), &p) == len;
}

// The hash of a signature's scheme, or TPM2_ALG_NULL for schemes we do not verify.
TPMI_ALG_HASH SignatureHash(const TPMT_SIGNATURE& sig) {
  switch (sig.sigAlg) {
    case TPM2_ALG_RSASSA:
      return sig.signature.rsassa.hash;
    case TPM2_ALG_RSAPSS:
      return sig.signature.rsapss.hash;
    case TPM2_ALG_ECDSA:
      return sig.signature.ecdsa.hash;
    default:
      return TPM2_ALG_NULL;
  }
}

bool Selected(const TPML_PCR_SELECTION& sel, TPMI_ALG_HASH bank, uint32_t pcr) {
  for (uint32_t i = 0; i < sel.count && i < TPM2_NUM_PCR_BANKS; ++i) {
    const TPMS_PCR_SELECTION& s = sel.pcrSelections[i];
    if (s.hash == bank && pcr / 8 < s.sizeofSelect && pcr / 8 < TPM2_PCR_SELECT_MAX &&
        (s.pcrSelect[pcr / 8] & (1u << (pcr % 8))) != 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool VerifyTpmSignature(const EVP_PKEY* key, const TPMT_SIGNATURE& sig, ByteView message,
                        std::string* why) {
  auto fail = [why](std::string reason) {
    if (why) *why = std::move(reason);
    ERR_clear_error();  // leave no stale errors on this thread's queue
    return false;
  };
  if (key == nullptr) return fail("no key");
  const int key_type = EVP_PKEY_get_base_id(key);
  const TPMI_ALG_HASH hash = SignatureHash(sig);
  const EVP_MD* md = tpm::HashAlgMd(hash);
  if (md == nullptr) return fail(SigAlgName(sig.sigAlg) + " with hash " + tpm::HashAlgName(hash));

  ByteView signature;
  Bytes der;
  int padding = 0;
  switch (sig.sigAlg) {
    case TPM2_ALG_RSASSA:
    case TPM2_ALG_RSAPSS: {
      if (key_type != EVP_PKEY_RSA) return fail(SigAlgName(sig.sigAlg) + " signature, non-RSA key");
      const TPM2B_PUBLIC_KEY_RSA& s = sig.signature.rsassa.sig;  // same layout for rsapss
      if (static_cast<int>(s.size) != EVP_PKEY_get_size(key)) {
        return fail("RSA signature of " + std::to_string(s.size) + " bytes for a " +
                    std::to_string(EVP_PKEY_get_size(key)) + "-byte key");
      }
      signature = ByteView(s.buffer, s.size);
      padding = sig.sigAlg == TPM2_ALG_RSASSA ? RSA_PKCS1_PADDING : RSA_PKCS1_PSS_PADDING;
      break;
    }
    case TPM2_ALG_ECDSA:
      if (key_type != EVP_PKEY_EC) return fail("ecdsa signature, non-EC key");
      if (!EcdsaToDer(sig.signature.ecdsa, &der)) return fail("ECDSA r/s not encodable");
      signature = der;
      break;
    default:
      return fail("signature scheme " + SigAlgName(sig.sigAlg) + " not supported");
  }

  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (!ctx ||
      EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, const_cast<EVP_PKEY*>(key)) != 1) {
    return fail("EVP_DigestVerifyInit failed");
  }
  if (padding != 0) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, padding) != 1) return fail("RSA padding refused");
    if (padding == RSA_PKCS1_PSS_PADDING &&
        (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1)) {
      return fail("RSA-PSS parameters refused");
    }
  }
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                       message.size()) != 1) {
    return fail("signature does not verify");
  }
  return true;
}

QuoteResult VerifyQuote(const QuoteInputs& in) {
  QuoteResult r;
  auto add = [&r](const char* id, Severity sev, json context) {
    r.failures.push_back(Failure{id, sev, context.dump()});
  };

  auto attest = tpm::ParseAttest(in.quote);
  if (!attest) {
    add("quote.malformed", Severity::kCritical,
        {{"message", "quote (TPMS_ATTEST) does not parse"}, {"error", attest.error().message}});
    return r;
  }
  auto sig = tpm::ParseSignature(in.signature);
  if (!sig) {
    add("quote.malformed", Severity::kCritical,
        {{"message", "signature (TPMT_SIGNATURE) does not parse"}, {"error", sig.error().message}});
    return r;
  }

  const TPMS_ATTEST& a = *attest;
  const bool is_quote = a.type == TPM2_ST_ATTEST_QUOTE;
  r.parsed = true;
  r.clock = ClockState{a.clockInfo.clock, a.clockInfo.resetCount, a.clockInfo.restartCount,
                       a.clockInfo.safe == TPM2_YES};
  r.firmware_version = a.firmwareVersion;
  r.qualified_signer.assign(a.qualifiedSigner.name,
                            a.qualifiedSigner.name + a.qualifiedSigner.size);
  r.extra_data.assign(a.extraData.buffer, a.extraData.buffer + a.extraData.size);
  if (is_quote) {
    r.pcr_selection = a.attested.quote.pcrSelect;
    r.pcr_digest.assign(a.attested.quote.pcrDigest.buffer,
                        a.attested.quote.pcrDigest.buffer + a.attested.quote.pcrDigest.size);
  }
  r.sig_alg = sig->sigAlg;
  r.hash_alg = SignatureHash(*sig);

  if (a.magic != TPM2_GENERATED_VALUE) {
    add("quote.invalid_magic", Severity::kCritical,
        {{"message", "magic is not TPM_GENERATED_VALUE: not a TPM-generated structure"},
         {"magic", a.magic}});
  }
  if (!is_quote) {
    add("quote.invalid_type", Severity::kCritical,
        {{"message", "attestation type is not TPM_ST_ATTEST_QUOTE"}, {"type", a.type}});
  }

  // Policy on hash algorithms: the signing hash and every quoted bank.
  const auto& allowed = in.allowed_hash_algs.empty() ? kDefaultAllowed : in.allowed_hash_algs;
  auto is_allowed = [&allowed](TPMI_ALG_HASH h) {
    return std::find(allowed.begin(), allowed.end(), h) != allowed.end();
  };
  auto allowed_names = [&allowed] {  // only built when a failure needs it
    json names = json::array();
    for (auto h : allowed) names.push_back(tpm::HashAlgName(h));
    return names;
  };
  if (!is_allowed(r.hash_alg)) {
    add("quote.hash_alg_not_allowed", Severity::kError,
        {{"message", "signing hash algorithm not allowed"},
         {"hash_alg", tpm::HashAlgName(r.hash_alg)},
         {"allowed", allowed_names()}});
  }

  // Signature by the AK over the exact quote bytes.
  const EVP_PKEY* key = in.ak_key;
  tpm::EvpPkeyPtr converted;
  std::string key_error;
  if (key == nullptr && in.ak_public) {
    auto k = tpm::PublicToEvpPkey(*in.ak_public);
    if (k) {
      converted = std::move(*k);
      key = converted.get();
    } else {
      key_error = k.error().message;
    }
  }
  std::string why;
  if (key == nullptr) {
    add("quote.invalid_signature", Severity::kCritical,
        {{"message", "no usable attestation key"},
         {"error", key_error.empty() ? "no AK given" : key_error}});
  } else if (!VerifyTpmSignature(key, *sig, in.quote, &why)) {
    add("quote.invalid_signature", Severity::kCritical,
        {{"message", "quote signature does not verify with the AK"},
         {"scheme", SigAlgName(sig->sigAlg)},
         {"reason", why}});
  }

  if (r.extra_data != in.nonce) {
    add("quote.nonce_mismatch", Severity::kCritical,
        {{"message", "extraData does not equal the nonce"},
         {"expected", ToHex(in.nonce)},
         {"got", ToHex(r.extra_data)}});
  }

  if (is_quote) {
    // Concatenate the supplied values in selection order; every quoted PCR
    // needs one, and no value may be supplied that the signature does not cover.
    Bytes concat;
    json missing = json::array();
    for (const auto& bank : tpm::SelectionToList(r.pcr_selection)) {
      if (!is_allowed(bank.hash)) {
        add("quote.hash_alg_not_allowed", Severity::kError,
            {{"message", "quoted PCR bank hash algorithm not allowed"},
             {"bank", tpm::HashAlgName(bank.hash)},
             {"allowed", allowed_names()}});
      }
      const size_t size = tpm::HashAlgDigestSize(bank.hash);
      auto values = in.pcrs.find(bank.hash);
      for (uint32_t pcr : bank.pcrs) {
        std::string label = tpm::HashAlgName(bank.hash) + ":" + std::to_string(pcr);
        const Bytes* v = nullptr;
        if (values != in.pcrs.end()) {
          auto it = values->second.find(pcr);
          if (it != values->second.end()) v = &it->second;
        }
        if (v == nullptr || size == 0 || v->size() != size) {
          missing.push_back(v == nullptr ? label : label + " (wrong size)");
          continue;
        }
        concat.insert(concat.end(), v->begin(), v->end());
      }
    }
    json extra = json::array();
    for (const auto& [bank, values] : in.pcrs) {
      for (const auto& [pcr, value] : values) {
        if (!Selected(r.pcr_selection, bank, pcr)) {
          extra.push_back(tpm::HashAlgName(bank) + ":" + std::to_string(pcr));
        }
      }
    }
    if (!missing.empty()) {
      add("quote.pcr_value_missing", Severity::kCritical,
          {{"message", "quoted PCRs without a valid supplied value"}, {"pcrs", missing}});
    }
    if (!extra.empty()) {
      add("quote.pcr_selection_mismatch", Severity::kCritical,
          {{"message", "PCR values supplied that the quote does not cover"},
           {"pcrs", extra},
           {"quoted", tpm::FormatSelection(r.pcr_selection)}});
    }
    if (missing.empty()) {
      auto digest = tpm::Hash(r.hash_alg, concat);
      if (!digest || *digest != r.pcr_digest) {
        add("quote.pcr_digest_mismatch", Severity::kCritical,
            {{"message", "pcrDigest does not match the supplied PCR values"},
             {"selection", tpm::FormatSelection(r.pcr_selection)},
             {"expected", digest ? ToHex(*digest) : digest.error().message},
             {"got", ToHex(r.pcr_digest)}});
      }
    }
  }

  if (!r.clock.safe) {
    add("quote.clock_unsafe", Severity::kError,
        {{"message", "clockInfo.safe is NO: the TPM clock may have gone back"},
         {"clock", r.clock.clock}});
  }

  if (in.previous) {
    const ClockState& p = *in.previous;
    json ctx = {
        {"previous",
         {{"clock", p.clock}, {"reset_count", p.reset_count}, {"restart_count", p.restart_count}}},
        {"current",
         {{"clock", r.clock.clock},
          {"reset_count", r.clock.reset_count},
          {"restart_count", r.clock.restart_count}}}};
    if (r.clock.reset_count > p.reset_count ||
        (r.clock.reset_count == p.reset_count && r.clock.restart_count > p.restart_count)) {
      r.reboot = true;
    } else if (r.clock.reset_count < p.reset_count || r.clock.restart_count < p.restart_count) {
      ctx["message"] = "resetCount/restartCount lower than in the accepted quote: an old quote";
      add("quote.replay", Severity::kCritical, std::move(ctx));
    } else if (r.clock.clock <= p.clock) {
      ctx["message"] = "TPM clock did not advance since the accepted quote: a replayed quote";
      add("quote.replay", Severity::kCritical, std::move(ctx));
    }
  }
  return r;
}

}  // namespace attest::verify
