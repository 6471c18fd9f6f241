// VerifyQuote as named steps: parse, authenticity (magic/type, hash
// algorithms, signature, nonce), PCR selection and digest, clock (unsafe,
// replay, rollback). Each step appends its failures in this order.
#include "common/checks/quote.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/checks/failure_ids.h"
#include "common/tpm/tpm_crypto.h"

namespace attest::checks {
namespace {

using tpm::Bytes;
using tpm::ByteView;
using tpm::ToHex;

const std::vector<TPMI_ALG_HASH> kDefaultAllowed = {TPM2_ALG_SHA256, TPM2_ALG_SHA384,
                                                    TPM2_ALG_SHA512};

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

void Add(QuoteResult& r, const char* id, Severity sev, Context context) {
  r.failures.push_back(Failure{id, sev, std::move(context)});
}

// The hash algorithms a quote may use (signing hash and quoted banks).
struct AllowedAlgs {
  explicit AllowedAlgs(const std::vector<TPMI_ALG_HASH>& in)
      : list(in.empty() ? kDefaultAllowed : in) {}
  bool Has(TPMI_ALG_HASH h) const { return std::find(list.begin(), list.end(), h) != list.end(); }
  std::vector<std::string> Names() const {  // only built when a failure needs it
    std::vector<std::string> names;
    for (auto h : list) names.push_back(tpm::HashAlgName(h));
    return names;
  }
  const std::vector<TPMI_ALG_HASH>& list;
};

// Step 1 (parse) failed: quote.malformed and nothing else is checked.
QuoteResult Malformed(QuoteResult& r, const char* what, const std::string& error) {
  Add(r, failure_id::kQuoteMalformed, Severity::kCritical, {{"message", what}, {"error", error}});
  return std::move(r);
}

// The parsed fields, reported even when later checks fail (for display).
void RecordParsed(const TPMS_ATTEST& a, const TPMT_SIGNATURE& sig, QuoteResult& r) {
  r.parsed = true;
  r.clock = ClockState{a.clockInfo.clock, a.clockInfo.resetCount, a.clockInfo.restartCount,
                       a.clockInfo.safe == TPM2_YES};
  r.firmware_version = a.firmwareVersion;
  r.qualified_signer.assign(a.qualifiedSigner.name,
                            a.qualifiedSigner.name + a.qualifiedSigner.size);
  r.extra_data.assign(a.extraData.buffer, a.extraData.buffer + a.extraData.size);
  if (a.type == TPM2_ST_ATTEST_QUOTE) {
    r.pcr_selection = a.attested.quote.pcrSelect;
    r.pcr_digest.assign(a.attested.quote.pcrDigest.buffer,
                        a.attested.quote.pcrDigest.buffer + a.attested.quote.pcrDigest.size);
  }
  r.sig_alg = sig.sigAlg;
  r.hash_alg = SignatureHashAlg(sig);
}

void CheckMagicAndType(const TPMS_ATTEST& a, QuoteResult& r) {
  if (a.magic != TPM2_GENERATED_VALUE) {
    Add(r, failure_id::kQuoteInvalidMagic, Severity::kCritical,
        {{"message", "magic is not TPM_GENERATED_VALUE: not a TPM-generated structure"},
         {"magic", a.magic}});
  }
  if (a.type != TPM2_ST_ATTEST_QUOTE) {
    Add(r, failure_id::kQuoteInvalidType, Severity::kCritical,
        {{"message", "attestation type is not TPM_ST_ATTEST_QUOTE"}, {"type", a.type}});
  }
}

// Signature by the AK over the exact quote bytes.
void CheckSignature(const QuoteInputs& in, const TPMT_SIGNATURE& sig, QuoteResult& r) {
  const EVP_PKEY* key = in.ak_verifier != nullptr ? in.ak_verifier->key() : in.ak_key;
  tpm::EvpPkeyPtr converted;
  std::string key_error;
  if (key == nullptr && in.ak_verifier == nullptr && in.ak_public) {
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
    Add(r, failure_id::kQuoteInvalidSignature, Severity::kCritical,
        {{"message", "no usable attestation key"},
         {"error", key_error.empty() ? "no AK given" : key_error}});
  } else if (!(in.ak_verifier != nullptr ? in.ak_verifier->Verify(sig, in.quote, &why)
                                         : VerifyTpmSignature(key, sig, in.quote, &why))) {
    Add(r, failure_id::kQuoteInvalidSignature, Severity::kCritical,
        {{"message", "quote signature does not verify with the AK"},
         {"scheme", SignatureSchemeName(sig.sigAlg)},
         {"reason", why}});
  }
}

// Concatenates the supplied values in selection order; every quoted PCR needs
// one, and no value may be supplied that the signature does not cover. Then
// the digest of the concatenation must be the quoted pcrDigest.
void CheckPcrDigest(const QuoteInputs& in, const AllowedAlgs& allowed, QuoteResult& r) {
  Bytes concat;
  std::vector<std::string> missing, extra;  // labels, only built on failure
  auto label = [](TPMI_ALG_HASH bank, uint32_t pcr) {
    return tpm::HashAlgName(bank) + ":" + std::to_string(pcr);
  };
  for (const auto& bank : tpm::SelectionToList(r.pcr_selection)) {
    if (!allowed.Has(bank.hash)) {
      Add(r, failure_id::kQuoteHashAlgNotAllowed, Severity::kError,
          {{"message", "quoted PCR bank hash algorithm not allowed"},
           {"bank", tpm::HashAlgName(bank.hash)},
           {"allowed", allowed.Names()}});
    }
    const size_t size = tpm::HashAlgDigestSize(bank.hash);
    auto values = in.pcrs.find(bank.hash);
    for (uint32_t pcr : bank.pcrs) {
      const Bytes* v = nullptr;
      if (values != in.pcrs.end()) {
        auto it = values->second.find(pcr);
        if (it != values->second.end()) v = &it->second;
      }
      if (v == nullptr || size == 0 || v->size() != size) {
        missing.push_back(label(bank.hash, pcr) + (v == nullptr ? "" : " (wrong size)"));
        continue;
      }
      concat.insert(concat.end(), v->begin(), v->end());
    }
  }
  for (const auto& [bank, values] : in.pcrs) {
    for (const auto& [pcr, value] : values) {
      if (!Selected(r.pcr_selection, bank, pcr)) extra.push_back(label(bank, pcr));
    }
  }
  if (!missing.empty()) {
    Add(r, failure_id::kQuotePcrValueMissing, Severity::kCritical,
        {{"message", "quoted PCRs without a valid supplied value"}, {"pcrs", missing}});
  }
  if (!extra.empty()) {
    Add(r, failure_id::kQuotePcrSelectionMismatch, Severity::kCritical,
        {{"message", "PCR values supplied that the quote does not cover"},
         {"pcrs", extra},
         {"quoted", tpm::FormatSelection(r.pcr_selection)}});
  }
  if (!missing.empty()) return;
  auto digest = tpm::Hash(r.hash_alg, concat);
  if (!digest || *digest != r.pcr_digest) {
    Add(r, failure_id::kQuotePcrDigestMismatch, Severity::kCritical,
        {{"message", "pcrDigest does not match the supplied PCR values"},
         {"selection", tpm::FormatSelection(r.pcr_selection)},
         {"expected", digest ? ToHex(*digest) : digest.error().message},
         {"got", ToHex(r.pcr_digest)}});
  }
}

// The quote's clockInfo against the previous accepted one: a reboot, a
// replay or a TPM rollback.
void CheckClock(const QuoteInputs& in, QuoteResult& r) {
  const ClockState& p = *in.previous;
  // Whether the TPM signed this quote for this nonce (a disallowed hash or
  // an unsafe clock do not change that).
  const bool authentic = std::all_of(r.failures.begin(), r.failures.end(), [](const Failure& f) {
    return f.event_id == failure_id::kQuoteHashAlgNotAllowed ||
           f.event_id == failure_id::kQuoteClockUnsafe;
  });
  auto replay = [&](const char* id, const char* message) {
    Add(r, id, Severity::kCritical,
        {{"message", message},
         {"previous_clock", p.clock},
         {"previous_reset_count", p.reset_count},
         {"previous_restart_count", p.restart_count},
         {"clock", r.clock.clock},
         {"reset_count", r.clock.reset_count},
         {"restart_count", r.clock.restart_count}});
  };
  const bool same = r.clock.reset_count == p.reset_count &&
                    r.clock.restart_count == p.restart_count && r.clock.clock == p.clock;
  const bool reset = r.clock.reset_count > p.reset_count;
  const bool restart =
      r.clock.reset_count == p.reset_count && r.clock.restart_count > p.restart_count;
  const bool fresh = authentic && in.nonce_after_previous;
  // Counters pushed forward over a restored state: a TPM Restart or Resume
  // follows an orderly Shutdown(STATE), which saves Clock, and a Reset that
  // reports safe = YES started from a saved Clock too. Either with a lower
  // Clock is the state of another time (a snapshot restored, then
  // Startup cycles to move the counters past the stored ones). A Reset after
  // a power loss (safe = NO) may lose the clock since it was last saved.
  const bool clock_back = r.clock.clock < p.clock && (restart || (reset && r.clock.safe));
  if (clock_back) {
    if (fresh) {
      replay(failure_id::kQuoteTpmRollback,
             "TPM clock went back across a restart, or across a reset that says its clock is "
             "safe: the TPM's state was restored (VM snapshot, cloned vTPM)");
    } else {
      replay(failure_id::kQuoteReplay, "TPM clock lower than in the accepted quote");
    }
  } else if (reset || restart) {
    r.reboot = true;
  } else if (same) {
    replay(failure_id::kQuoteReplay,
           "the same clockInfo as the accepted quote: the same quote again");
  } else if (r.clock.reset_count < p.reset_count || r.clock.restart_count < p.restart_count ||
             r.clock.clock < p.clock) {
    if (fresh) {
      replay(failure_id::kQuoteTpmRollback,
             "TPM resetCount/restartCount/clock went back in a quote made for a fresh nonce: "
             "the TPM's state was restored or cleared (VM snapshot, cloned vTPM)");
    } else {
      replay(failure_id::kQuoteReplay,
             "TPM counters lower than in the accepted quote: an old quote");
    }
  }
}

}  // namespace

QuoteResult VerifyQuote(const QuoteInputs& in) {
  QuoteResult r;
  // Parse: TPMS_ATTEST, then TPMT_SIGNATURE; nothing else without both.
  const auto attest_or = tpm::ParseAttest(in.quote);
  if (!attest_or) {
    return Malformed(r, "quote (TPMS_ATTEST) does not parse", attest_or.error().message);
  }
  const auto sig_or = tpm::ParseSignature(in.signature);
  if (!sig_or) {
    return Malformed(r, "signature (TPMT_SIGNATURE) does not parse", sig_or.error().message);
  }
  const TPMS_ATTEST& attest = *attest_or;
  const TPMT_SIGNATURE& sig = *sig_or;
  RecordParsed(attest, sig, r);

  // Authenticity: made by a TPM, allowed hash, signed by the AK, for this nonce.
  CheckMagicAndType(attest, r);
  const AllowedAlgs allowed(in.allowed_hash_algs);
  if (!allowed.Has(r.hash_alg)) {
    Add(r, failure_id::kQuoteHashAlgNotAllowed, Severity::kError,
        {{"message", "signing hash algorithm not allowed"},
         {"hash_alg", tpm::HashAlgName(r.hash_alg)},
         {"allowed", allowed.Names()}});
  }
  CheckSignature(in, sig, r);
  if (r.extra_data != in.nonce) {
    Add(r, failure_id::kQuoteNonceMismatch, Severity::kCritical,
        {{"message", "extraData does not equal the nonce"},
         {"expected", ToHex(in.nonce)},
         {"got", ToHex(r.extra_data)}});
  }

  // What was quoted: the selection and its digest over the supplied values.
  if (attest.type == TPM2_ST_ATTEST_QUOTE) CheckPcrDigest(in, allowed, r);

  // The clock: unsafe after a power loss; replay, rollback or reboot.
  if (!r.clock.safe) {
    Add(r, failure_id::kQuoteClockUnsafe, Severity::kError,
        {{"message", "clockInfo.safe is NO: the TPM clock may have gone back"},
         {"clock", r.clock.clock}});
  }
  if (in.previous) CheckClock(in, r);
  return r;
}

}  // namespace attest::checks
