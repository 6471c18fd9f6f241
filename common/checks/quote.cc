#include "common/checks/quote.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace

QuoteResult VerifyQuote(const QuoteInputs& in) {
  QuoteResult r;
  auto add = [&r](const char* id, Severity sev, Context context) {
    r.failures.push_back(Failure{id, sev, std::move(context)});
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
  r.hash_alg = SignatureHashAlg(*sig);

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
    std::vector<std::string> names;
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
    add("quote.invalid_signature", Severity::kCritical,
        {{"message", "no usable attestation key"},
         {"error", key_error.empty() ? "no AK given" : key_error}});
  } else if (!(in.ak_verifier != nullptr ? in.ak_verifier->Verify(*sig, in.quote, &why)
                                         : VerifyTpmSignature(key, *sig, in.quote, &why))) {
    add("quote.invalid_signature", Severity::kCritical,
        {{"message", "quote signature does not verify with the AK"},
         {"scheme", SignatureSchemeName(sig->sigAlg)},
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
    std::vector<std::string> missing, extra;  // labels, only built on failure
    auto label = [](TPMI_ALG_HASH bank, uint32_t pcr) {
      return tpm::HashAlgName(bank) + ":" + std::to_string(pcr);
    };
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
        if (!Selected(r.pcr_selection, bank, pcr)) {
          extra.push_back(label(bank, pcr));
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
    // Whether the TPM signed this quote for this nonce (a disallowed hash or
    // an unsafe clock do not change that).
    const bool authentic = std::all_of(r.failures.begin(), r.failures.end(), [](const Failure& f) {
      return f.event_id == "quote.hash_alg_not_allowed" || f.event_id == "quote.clock_unsafe";
    });
    auto replay = [&](const char* id, const char* message) {
      add(id, Severity::kCritical,
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
    // Counters pushed forward over a restored state: a TPM Restart or Resume
    // follows an orderly Shutdown(STATE), which saves Clock, and a Reset that
    // reports safe = YES started from a saved Clock too. Either with a lower
    // Clock is the state of another time (a snapshot restored, then
    // Startup cycles to move the counters past the stored ones). A Reset after
    // a power loss (safe = NO) may lose the clock since it was last saved.
    const bool clock_back = r.clock.clock < p.clock && (restart || (reset && r.clock.safe));
    if (clock_back) {
      if (authentic && in.nonce_after_previous) {
        replay("quote.tpm_rollback",
               "TPM clock went back across a restart, or across a reset that says its clock is "
               "safe: the TPM's state was restored (VM snapshot, cloned vTPM)");
      } else {
        replay("quote.replay", "TPM clock lower than in the accepted quote");
      }
    } else if (reset || restart) {
      r.reboot = true;
    } else if (same) {
      replay("quote.replay", "the same clockInfo as the accepted quote: the same quote again");
    } else if (r.clock.reset_count < p.reset_count || r.clock.restart_count < p.restart_count ||
               r.clock.clock < p.clock) {
      if (authentic && in.nonce_after_previous) {
        replay("quote.tpm_rollback",
               "TPM resetCount/restartCount/clock went back in a quote made for a fresh nonce: "
               "the TPM's state was restored or cleared (VM snapshot, cloned vTPM)");
      } else {
        replay("quote.replay", "TPM counters lower than in the accepted quote: an old quote");
      }
    }
  }
  return r;
}

}  // namespace attest::checks
