#include "common/ima/replay.h"

namespace attest::ima {
namespace {

class Checker {
 public:
  Checker(ReplayState& state, const ReplayOptions& opt, ReplayOutcome& out)
      : state_(state), opt_(opt), out_(out) {}

  void Process(const Entry& e, uint64_t index);

 private:
  void Fail(const char* id, uint64_t index, const Entry& e, std::string message) {
    out_.failures.push_back(Failure{id, index, std::string(e.path()), std::move(message)});
  }
  // Keylime's _validate_ima_ng against one of the policy's digest maps.
  bool ValidateNg(const Entry& e, uint64_t index,
                  const DigestList* (RuntimePolicy::*find)(std::string_view) const);
  void ValidateSig(const Entry& e, uint64_t index);
  void ValidateBuf(const Entry& e, uint64_t index);
  void Extend(const Entry& e, HashAlg tmpl_alg, const Digest& computed);

  ReplayState& state_;
  const ReplayOptions& opt_;
  ReplayOutcome& out_;
  Hasher hasher_;
};

bool Checker::ValidateNg(const Entry& e, uint64_t index,
                         const DigestList* (RuntimePolicy::*find)(std::string_view) const) {
  const RuntimePolicy* p = opt_.policy;
  if (p == nullptr) return true;
  // Excludes cost nothing when there are none (Excluded checks empty lists).
  if (p->Excluded(e.path())) return true;
  const DigestList* list = (p->*find)(e.path());
  if (list == nullptr) {
    Fail(failure_id::kNotInAllowlist, index, e, "File not found in allowlist");
    return false;
  }
  if (!list->Contains(e.file_digest())) {
    Fail(failure_id::kHashNotInPolicy, index, e,
         "Hash not found in runtime policy: got " + ToHex(e.file_digest()));
    return false;
  }
  return true;
}

void Checker::ValidateSig(const Entry& e, uint64_t index) {
  auto sig = e.signature();
  if (!sig.empty() && !SignatureWellFormed(sig)) {
    // Keylime drops a malformed signature while parsing, so its template
    // hash no longer matches: such an entry never passes, excluded or not.
    Fail(failure_id::kMalformedSignature, index, e, "malformed IMA signature header");
    return;
  }
  if (opt_.keys != nullptr && !sig.empty()) {
    if (opt_.policy != nullptr && opt_.policy->Excluded(e.path())) return;
    std::string_view algo = e.algo();
    if (algo.empty()) algo = e.digest.len == 20 ? "sha1" : "md5";
    if (opt_.keys->Verify(sig, algo, e.file_digest()) == SigStatus::kValid ||
        (state_.learned_keys.size() > 0 &&
         state_.learned_keys.Verify(sig, algo, e.file_digest()) == SigStatus::kValid)) {
      return;
    }
  }
  if (opt_.policy != nullptr) {
    ValidateNg(e, index, &RuntimePolicy::FindDigests);
    return;
  }
  if (opt_.keys == nullptr) return;
  Fail(failure_id::kInvalidSignature, index, e, "signature could not be validated");
}

void Checker::ValidateBuf(const Entry& e, uint64_t index) {
  auto key = KeyFromData(e.buffer());
  if (!key) {
    Fail(failure_id::kInvalidKey, index, e,
         "buffer holds an unsupported key: " + key.error().message);
    return;
  }
  if (*key) {
    if (opt_.policy != nullptr && opt_.policy->KeyringIgnored(e.path())) return;
    if (ValidateNg(e, index, &RuntimePolicy::FindKeyring) && opt_.keys != nullptr) {
      PublicKey k = std::move(**key);
      k.keyring = std::string(e.path());
      state_.learned_keys.Add(std::move(k));
    }
    return;
  }
  ValidateNg(e, index, &RuntimePolicy::FindImaBuf);
}

void Checker::Extend(const Entry& e, HashAlg tmpl_alg, const Digest& computed) {
  for (size_t b = 0; b < kNumHashAlgs; ++b) {
    Digest& pcr = state_.pcr[b];
    if (pcr.size == 0) continue;
    auto bank = static_cast<HashAlg>(b);
    Digest value;
    if (e.IsViolation()) {
      value = Digest::Filled(DigestSize(bank), 0xff);
    } else if (bank == tmpl_alg) {
      value = computed;
    } else {
      value = hasher_.Hash(bank, AsBytes(e.data));
    }
    pcr = hasher_.Hash2(bank, pcr.view(), value.view());
  }
}

void Checker::Process(const Entry& e, uint64_t index) {
  auto tmpl_alg = HashFromSize(e.template_hash.size).value_or(HashAlg::kSha1);
  Digest computed;
  bool hash_ok = true;
  if (!e.IsViolation()) {
    computed = hasher_.Hash(tmpl_alg, AsBytes(e.data));
    hash_ok = computed == e.template_hash;
  }
  Extend(e, tmpl_alg, computed);
  if (e.pcr != opt_.ima_pcr) {
    Fail(failure_id::kWrongPcr, index, e, "entry is for PCR " + std::to_string(e.pcr));
  }
  if (e.IsViolation()) {
    // ToMToU / open-writers violation: not validated against the policy.
    if (opt_.fail_on_tomtou) Fail(failure_id::kToMToU, index, e, "measurement violation entry");
    return;
  }
  if (!hash_ok) {
    Fail(failure_id::kTemplateHash, index, e,
         "template hash " + ToHex(e.template_hash) + " does not match the template data (" +
             ToHex(computed) + ")");
    return;
  }
  switch (e.tmpl) {
    case Template::kIma:
    case Template::kImaNg:
      ValidateNg(e, index, &RuntimePolicy::FindDigests);
      break;
    case Template::kImaSig:
      ValidateSig(e, index);
      break;
    case Template::kImaBuf:
      ValidateBuf(e, index);
      break;
  }
}

}  // namespace

ReplayState ReplayState::Initial(std::span<const HashAlg> banks) {
  ReplayState s;
  for (HashAlg b : banks) s.pcr[static_cast<size_t>(b)] = Digest::Filled(DigestSize(b), 0);
  return s;
}

const Digest* ReplayState::Pcr(HashAlg bank) const {
  const Digest& d = pcr[static_cast<size_t>(bank)];
  return d.size == 0 ? nullptr : &d;
}

ReplayOutcome Replay(ReplayState& state, std::span<const Entry> entries,
                     const ReplayOptions& options) {
  ReplayOutcome out;
  Checker checker(state, options, out);
  const Digest* tracked = state.Pcr(options.expected_bank);
  auto matches = [&] {
    return options.expected_pcr && tracked != nullptr && *tracked == *options.expected_pcr;
  };
  if (matches()) out.pcr_matched_at = state.next_entry;
  for (size_t i = 0; i < entries.size(); ++i) {
    checker.Process(entries[i], state.next_entry + i);
    if (matches()) out.pcr_matched_at = state.next_entry + i + 1;
  }
  state.next_entry += entries.size();
  if (options.expected_pcr && !out.pcr_matched_at) {
    out.failures.push_back(Failure{
        failure_id::kPcrMismatch, state.next_entry, "",
        tracked == nullptr
            ? "bank " + std::string(HashName(options.expected_bank)) + " is not replayed"
            : "IMA measurement list does not match TPM PCR " + ToHex(*options.expected_pcr)});
  }
  return out;
}

}  // namespace attest::ima
