#include "agent/round.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "agent/binding.h"
#include "agent/errors.h"
#include "attest/v1/attestation.pb.h"
#include "attest/v1/registration.pb.h"
#include "common/base/escape.h"
#include "common/base/hex.h"

namespace attest::agent {

using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

constexpr char kProto[] = "application/x-protobuf";
constexpr char kAgentVersion[] = "0.1.0";
constexpr auto kMaxRetryAfter = std::chrono::hours(1);
// Room kept in an evidence for what is added after the IMA entries are
// sized (their framing, the capabilities).
constexpr size_t kEvidenceReserveBytes = 4096;

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }
Bytes FromStr(const std::string& s) { return Bytes(s.begin(), s.end()); }

Result<Bytes> AuthTag(const Bytes& secret, const std::string& uuid) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(uuid.data()), uuid.size(), out,
           &len) == nullptr) {
    return MakeError(errc::protocol_error, "HMAC-SHA256 of the activation secret failed");
  }
  return Bytes(out, out + len);
}

// A server's text for the log and the status file: cut to `max` bytes and
// with control characters and invalid UTF-8 escaped, so that a server cannot
// forge log lines, drive the terminal of `attest-agent --status`, or grow
// status.json past what --status reads.
std::string ServerText(std::string_view text, size_t max) {
  if (text.size() <= max) return TerminalSafe(text);
  return TerminalSafe(text.substr(0, max)) + "...";
}

// "404 Not Found: agent ... is not enrolled" from a problem body, else the
// status and the start of the body.
std::string ProblemText(const httpclient::Response& r) {
  std::string text = std::to_string(r.status);
  auto j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded() && j.is_object()) {
    if (j.contains("title") && j["title"].is_string()) {
      text += " " + ServerText(j["title"].get<std::string>(), 100);
    }
    if (j.contains("detail") && j["detail"].is_string()) {
      text += ": " + ServerText(j["detail"].get<std::string>(), 400);
    }
    return text;
  }
  std::string body = r.body.substr(0, 200);
  for (char& c : body) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '.';
  }
  return body.empty() ? text : text + ": " + body;
}

// What the blocks need of the TPM besides quotes and activations, copied
// once it is opened so that a block holds the TPM lock only to use it.
struct TpmIdentity {
  std::string ek_public, ek_cert, ak_public;
  Bytes ak_name;
  std::string ak_name_hex;
  std::vector<v1::HashAlgorithm> banks;
  v1::SignatureScheme scheme{};
  uint64_t generation = 0;  // Devices::tpm_generation when copied
};

// The TPM this block's identity came from is gone (another block's TPM
// failure reset it): not this block's failure, retried after a backoff.
Step TpmReopened(const BlockConn& b, std::string_view what) {
  return Step::Fail(Step::kBackoff, MakeError(errc::tpm_error, b.name + ": " + std::string(what) +
                                                                   ": the TPM was reopened after "
                                                                   "another block's TPM failure"));
}

Step TpmFailure(Devices& d, uint64_t generation, Error e) {
  std::lock_guard lock(d.tpm_mu);
  // Reopened next step: a TPM reset loses every transient handle. Only the
  // TPM this block used: another block may have reopened it already.
  if (d.tpm_generation == generation) d.tpm.reset();
  return Step::Fail(Step::kPermanent, std::move(e));
}

// How long to wait when the server said Retry-After: what it asks, up to
// kMaxRetryAfter, but never less than the block's backoff, so that a "0" or
// a date in the past, answered again and again, cannot make the block spin.
milliseconds RetryAfterWait(Devices& d, BlockConn& b, std::optional<seconds> retry_after) {
  const milliseconds backoff = Backoff(d.config, b);
  if (!retry_after) return backoff;
  return std::max(backoff, std::min<milliseconds>(*retry_after, kMaxRetryAfter));
}

// The answer to a non-success status of `what` from `ep`.
Step FromStatus(Devices& d, BlockConn& b, Endpoints& ep, const httpclient::Response& r,
                const std::string& what, bool lost_registration_on_404) {
  std::string text = b.name + ": " + what + " at " + ep.current_url() + ": " + ProblemText(r);
  auto retry_after = r.retry_after();
  if (r.status == 429) {
    auto wait = RetryAfterWait(d, b, retry_after);
    spdlog::info("{}; retrying in {} ms", text, wait.count());
    return Step::Of(Step::kWait, wait);
  }
  if (r.status == 404 && lost_registration_on_404) {
    spdlog::warn("{}; registering again", text);
    return Step::Fail(Step::kReregister, MakeError(errc::http_status, text));
  }
  if (r.status >= 500) {
    // Another address that has not failed in this cycle: a new round there
    // at once (the evidence itself is never sent twice).
    if (ep.Rotate()) {
      spdlog::warn("{}; trying another address of the block", text);
      return Step::Fail(Step::kWait, MakeError(errc::http_status, text), milliseconds(0));
    }
    if (r.status == 503 && retry_after) {
      // The block is judged again within block_failover_seconds: a long
      // Retry-After must not keep a failing block from being replaced.
      auto wait = std::min<milliseconds>(RetryAfterWait(d, b, retry_after),
                                         seconds(d.config.block_failover_seconds));
      spdlog::warn("{}; retrying in {} ms", text, wait.count());
      // The backend is alive but not serving: a failure for the spare rule.
      return Step::Fail(Step::kWait, MakeError(errc::http_status, text), wait);
    }
    spdlog::warn("{}; failing over to another address", text);
    return Step::Fail(Step::kBackoff, MakeError(errc::http_status, text));
  }
  // 408: we were slow; 401 on evidence: the token expired (or the gateways
  // rotated keys) while we quoted. A new challenge fixes both.
  if (r.status == 408 || r.status == 401) {
    spdlog::warn("{}", text);
    return Step::Fail(Step::kBackoff, MakeError(errc::http_status, text));
  }
  spdlog::error("{}", text);
  return Step::Fail(Step::kPermanent, MakeError(errc::http_status, text));
}

Step Unreachable(BlockConn& b, Endpoints& ep, const std::string& what, const Error& e) {
  if (e.code == httpclient::errc::cancelled) {
    return Step::Fail(Step::kBackoff, MakeError(errc::stopped, b.name + ": " + e.message));
  }
  std::string text = b.name + ": " + what + ": " + e.message;
  spdlog::warn("{}", text);
  // A timeout of an evidence (not sent again): the next round at once at an
  // address that has not failed; after connection failures every address
  // was tried, Rotate() says so and the block backs off.
  if (ep.Rotate())
    return Step::Fail(Step::kWait, MakeError(errc::http_status, text), milliseconds(0));
  return Step::Fail(Step::kBackoff, MakeError(errc::http_status, text));
}

// Opens the TPM when it is not open (first use, or after a failure).
Result<TpmIdentity> EnsureTpm(Devices& d) {
  std::lock_guard lock(d.tpm_mu);
  if (!d.tpm) {
    TpmOptions o;
    o.tcti = d.config.tcti;
    o.ek_type = d.config.ek_type;
    o.ak_type = d.config.ak_type;
    o.ak_path = d.state.ak_path();  // a constant path: no state lock needed
    ATTEST_ASSIGN_OR_RETURN(d.tpm, d.open_tpm(o));
    ++d.tpm_generation;
    spdlog::info("TPM ready: {} EK{}, {} AK {}", d.config.ek_type,
                 d.tpm->ek_cert().empty() ? " (no certificate)" : " with certificate",
                 d.config.ak_type, HexEncode(d.tpm->ak_name()));
  }
  const AgentTpm& t = *d.tpm;
  return TpmIdentity{Str(t.ek_public()),   Str(t.ek_cert()),       Str(t.ak_public()),
                     t.ak_name(),          HexEncode(t.ak_name()), t.active_banks(),
                     t.signature_scheme(), d.tpm_generation};
}

Result<void> PutRecord(Devices& d, const BlockConn& b) {
  std::lock_guard lock(d.state_mu);
  return d.state.Put(b.key, b.record);
}

Result<ImaReader::Snapshot> ReadIma(Devices& d, uint64_t offset, size_t max_bytes) {
  std::lock_guard lock(d.ima_mu);
  return d.ima.Read(offset, max_bytes);
}

bool Registered(const Devices& d, const TpmIdentity& id, const BlockConn& b) {
  if (b.registrars->empty()) return true;  // this backend registers agents elsewhere
  return b.record.registered && b.record.uuid == d.uuid && b.record.ak_name_hex == id.ak_name_hex;
}

Step Register(Devices& d, const TpmIdentity& id, BlockConn& b, const std::stop_token& stop) {
  const std::string base = "/v1/agents/" + d.uuid;
  v1::RegisterRequest req;
  req.set_agent_uuid(d.uuid);
  req.set_ek_public(id.ek_public);
  req.set_ek_cert(id.ek_cert);
  req.set_ak_public(id.ak_public);
  req.set_agent_version(kAgentVersion);
  auto r = b.registrars->Post(base + "/register", kProto, req.SerializeAsString(),
                              Endpoints::Resend::kIdempotent, stop);
  if (!r) return Unreachable(b, *b.registrars, "register", r.error());
  if (r->status != 200) return FromStatus(d, b, *b.registrars, *r, "register", false);
  v1::RegisterResponse resp;
  if (!resp.ParseFromString(r->body)) {
    return Step::Fail(
        Step::kPermanent,
        MakeError(errc::protocol_error, b.name + ": register at " + b.registrars->current_url() +
                                            ": the answer is not a RegisterResponse"));
  }
  if (!resp.already_active()) {
    Result<Bytes> secret = Bytes{};
    {
      std::lock_guard lock(d.tpm_mu);
      if (!d.tpm || d.tpm_generation != id.generation) return TpmReopened(b, "activation");
      secret = d.tpm->Activate(FromStr(resp.credential_blob()), FromStr(resp.encrypted_secret()));
    }
    if (!secret) {
      return Step::Fail(Step::kPermanent,
                        MakeError(errc::tpm_error,
                                  b.name + ": credential activation: " + secret.error().message));
    }
    auto tag = AuthTag(*secret, d.uuid);
    if (!tag) return Step::Fail(Step::kPermanent, tag.error());
    v1::ActivateRequest act;
    act.set_agent_uuid(d.uuid);
    act.set_auth_tag(Str(*tag));
    auto a = b.registrars->Post(base + "/activate", kProto, act.SerializeAsString(),
                                Endpoints::Resend::kIdempotent, stop);
    if (!a) return Unreachable(b, *b.registrars, "activate", a.error());
    if (a->status != 200) return FromStatus(d, b, *b.registrars, *a, "activate", false);
    v1::ActivateResponse ar;
    if (!ar.ParseFromString(a->body) || !ar.active()) {
      return Step::Fail(
          Step::kPermanent,
          MakeError(errc::protocol_error, b.name + ": activate at " + b.registrars->current_url() +
                                              ": the registrar did not confirm the activation"));
    }
  }
  b.record.uuid = d.uuid;
  b.record.ak_name_hex = id.ak_name_hex;
  b.record.registered = true;
  if (auto s = PutRecord(d, b); !s) return Step::Fail(Step::kPermanent, s.error());
  spdlog::info("{}: registered and active at {}{}", b.name, b.registrars->current_url(),
               resp.already_active() ? " (already active)" : "");
  return Step::Of(Step::kContinue);
}

// One attestation round of a block: challenge -> quote -> evidence, as named
// steps over the round's state. Each step returns the Step that ends the
// round early (a failure or a server's answer), or nothing to go on.
class Round {
 public:
  Round(Devices& d, const TpmIdentity& id, BlockConn& b, const std::stop_token& stop)
      : d_(d), id_(id), b_(b), stop_(stop), base_("/v1/agents/" + d.uuid) {}

  Step Run() {
    if (auto s = ReadCapabilities()) return *s;
    if (auto s = RequestChallenge()) return *s;
    if (auto s = QuoteChallenge()) return *s;
    AddUefiLog();
    if (auto s = AddImaEntries()) return *s;
    return SendEvidence();
  }

 private:
  // Boot time and IMA entry count: what the gateway bases its challenge on.
  std::optional<Step> ReadCapabilities() {
    auto boot = BootTime(d_.config.boot_time);
    if (!boot) return Step::Fail(Step::kPermanent, boot.error());
    boot_ = *boot;
    auto count = ReadIma(d_, UINT64_MAX, static_cast<size_t>(d_.config.ima_max_batch_bytes));
    if (!count) return Step::Fail(Step::kPermanent, count.error());
    for (auto alg : id_.banks) caps_.add_hash_algorithms(alg);
    caps_.add_signature_schemes(id_.scheme);
    caps_.mutable_boot_time()->set_seconds(boot_);
    caps_.set_ima_entry_count(count->total_entries);
    caps_.set_agent_version(kAgentVersion);
    return std::nullopt;
  }

  // POST challenges; a challenge the TPM cannot quote is refused here.
  std::optional<Step> RequestChallenge() {
    Endpoints& ep = *b_.verifiers;
    v1::ChallengeRequest creq;
    creq.set_agent_uuid(d_.uuid);
    *creq.mutable_capabilities() = caps_;
    auto r = ep.Post(base_ + "/challenges", kProto, creq.SerializeAsString(),
                     Endpoints::Resend::kIdempotent, stop_);
    if (!r) return Unreachable(b_, ep, "challenge", r.error());
    if (r->status != 200) return FromStatus(d_, b_, ep, *r, "challenge", true);
    if (!ch_.ParseFromString(r->body)) {
      return Step::Fail(Step::kPermanent, MakeError(errc::protocol_error,
                                                    b_.name + ": challenge at " + ep.current_url() +
                                                        ": the answer is not a Challenge"));
    }
    if (ch_.token().empty() || ch_.token().size() > kMaxNonceBytes) {
      std::string text = b_.name + ": challenge from " + ep.current_url() + ": token is " +
                         std::to_string(ch_.token().size()) +
                         " bytes, but a TPM quote's qualifyingData (TPM2B_DATA) holds 1 to at "
                         "most " +
                         std::to_string(kMaxNonceBytes) + " bytes; the gateway's token must fit";
      spdlog::error("{}", text);
      return Step::Fail(Step::kPermanent, MakeError(errc::invalid_challenge, text));
    }
    if (auto mismatch = SelectionMismatch(ch_)) {
      // The worker judges the quote by the token: neither selection would
      // give evidence it accepts. Retried later; never a quote that could
      // look like a withheld PCR.
      std::string text =
          b_.name + ": challenge from " + ep.current_url() + " refused: " + *mismatch;
      spdlog::error("{}", text);
      return Step::Fail(Step::kBackoff, MakeError(errc::invalid_challenge, text));
    }
    if (stop_.stop_requested()) {
      return Step::Fail(Step::kBackoff, MakeError(errc::stopped, "stop"));
    }
    return std::nullopt;
  }

  // The quote over the challenge's selection, the token as qualifying data.
  std::optional<Step> QuoteChallenge() {
    Result<v1::Quote> quote = v1::Quote{};
    {
      std::lock_guard lock(d_.tpm_mu);
      if (!d_.tpm || d_.tpm_generation != id_.generation) return TpmReopened(b_, "quote");
      quote = d_.tpm->Quote(FromStr(ch_.token()), ch_.pcr_selection());
    }
    if (!quote) {
      Error e{quote.error().code, b_.name + ": quote: " + quote.error().message};
      spdlog::error("{}", e.message);
      if (quote.error().code == errc::invalid_challenge) {
        return Step::Fail(Step::kPermanent, std::move(e));
      }
      return TpmFailure(d_, id_.generation, std::move(e));
    }
    ev_.set_agent_uuid(d_.uuid);
    ev_.set_challenge_token(ch_.token());
    *ev_.mutable_quote() = std::move(quote).value();
    ev_.mutable_boot_time()->set_seconds(boot_);
    return std::nullopt;
  }

  // The UEFI log when asked or after a new boot, if it fits the gateway's
  // limit (else logged and left out: the verifier says what it misses).
  void AddUefiLog() {
    new_boot_ = boot_ != b_.record.last_boot_time;
    if (!UefiLogAsked(ch_) && !new_boot_) return;
    auto log = ReadBounded(d_.config.uefi_log, static_cast<size_t>(d_.config.uefi_log_max_bytes));
    if (log && ch_.max_evidence_bytes() > 0 &&
        log->size() + kEvidenceReserveBytes > ch_.max_evidence_bytes()) {
      spdlog::error(
          "{}: UEFI event log not sent: {} bytes do not fit the gateway's evidence limit of {} "
          "bytes (its server.max_body_bytes)",
          b_.name, log->size(), ch_.max_evidence_bytes());
    } else if (log) {
      ev_.set_uefi_log(std::move(log).value());
    } else {
      spdlog::warn("{}: UEFI event log not sent: {}", b_.name, log.error().message);
    }
  }

  // The IMA entries from the challenge's offset get what the gateway's body
  // limit leaves: a longer list goes in parts (the gateway asks for the next
  // part soon).
  std::optional<Step> AddImaEntries() {
    size_t ima_budget = static_cast<size_t>(d_.config.ima_max_batch_bytes);
    if (ch_.max_evidence_bytes() > 0) {
      const size_t used = ev_.ByteSizeLong() + kEvidenceReserveBytes;
      ima_budget = ch_.max_evidence_bytes() > used
                       ? std::min<uint64_t>(ima_budget, ch_.max_evidence_bytes() - used)
                       : 1;  // still one entry: the verifier then says what is wrong
    }
    auto ima_snap = ReadIma(d_, ch_.ima_offset(), ima_budget);
    if (!ima_snap) return Step::Fail(Step::kPermanent, ima_snap.error());
    *ev_.mutable_ima() = std::move(ima_snap->entries);
    caps_.set_ima_entry_count(ima_snap->total_entries);
    *ev_.mutable_capabilities() = caps_;
    return std::nullopt;
  }

  // POST evidence (never sent twice: Resend::kIfNotReached); after 202 the
  // next round is due after the interval the gateway gives.
  Step SendEvidence() {
    Endpoints& ep = *b_.verifiers;
    auto e = ep.Post(base_ + "/evidence", kProto, ev_.SerializeAsString(),
                     Endpoints::Resend::kIfNotReached, stop_);
    if (!e) return Unreachable(b_, ep, "evidence", e.error());
    if (e->status != 202 && e->status != 200) {
      return FromStatus(d_, b_, ep, *e, "evidence", true);
    }
    v1::EvidenceAccepted acc;
    if (!acc.ParseFromString(e->body)) {
      spdlog::warn("{}: evidence accepted but the answer is not an EvidenceAccepted", b_.name);
    }
    if (new_boot_) {
      b_.record.last_boot_time = boot_;
      if (auto s = PutRecord(d_, b_); !s) spdlog::warn("{}", s.error().message);
    }
    uint32_t interval = acc.next_attestation_seconds() ? acc.next_attestation_seconds()
                        : ch_.interval_seconds()       ? ch_.interval_seconds()
                                                       : d_.config.default_interval_seconds;
    spdlog::info(
        "{}: evidence {} accepted by {} (PCRs of {} bank(s), {} IMA entries from {}{}); "
        "next in {} s",
        b_.name, ServerText(acc.evidence_id(), 100), ep.current_url(), ch_.pcr_selection_size(),
        ev_.ima().entry_count(), ev_.ima().start_offset(),
        ev_.uefi_log().empty() ? "" : ", UEFI log", interval);
    return Step::Of(Step::kAccepted, seconds(interval));
  }

  Devices& d_;
  const TpmIdentity& id_;
  BlockConn& b_;
  const std::stop_token& stop_;
  const std::string base_;  // "/v1/agents/<uuid>"
  int64_t boot_ = 0;
  bool new_boot_ = false;  // boot time differs from the last accepted evidence's
  v1::AgentCapabilities caps_;
  v1::Challenge ch_;
  v1::Evidence ev_;
};

}  // namespace

Devices::Devices(const AgentConfig& c, StateStore s, std::string u, TpmOpener o)
    : config(c),
      uuid(std::move(u)),
      open_tpm(std::move(o)),
      ima(config.ima_log,
          config.ima_log_format == "ascii" ? v1::IMA_LOG_FORMAT_ASCII : v1::IMA_LOG_FORMAT_BINARY,
          static_cast<size_t>(config.ima_max_batch_bytes)),
      state(std::move(s)) {}

BlockConn::BlockConn(size_t i, const AgentConfig& config, const StateStore& state)
    : index(i),
      name("servers[" + std::to_string(i) + "]"),
      key(BlockKey(config.servers[i])),
      rng(std::make_unique<std::mt19937_64>(std::random_device{}())),
      registrars(std::make_unique<Endpoints>(config.servers[i].registrars, config, rng.get())),
      verifiers(std::make_unique<Endpoints>(config.servers[i].verifiers, config, rng.get())),
      record(state.Get(key)) {}

milliseconds Backoff(const AgentConfig& config, BlockConn& b) {
  int shift = std::min(b.failures, 30);
  int64_t base = std::min<int64_t>(int64_t{config.retry_initial_ms} << shift, config.retry_max_ms);
  // Jitter in [base/2, base]: agents that failed together do not retry together.
  int64_t d = std::uniform_int_distribution<int64_t>(base / 2, base)(*b.rng);
  b.failures++;
  return milliseconds(d);
}

void ForgetRegistration(Devices& d, BlockConn& b) {
  b.record.registered = false;
  if (auto w = PutRecord(d, b); !w) spdlog::warn("{}", w.error().message);
}

Step RunStep(Devices& d, BlockConn& b, const std::stop_token& stop) {
  auto id = EnsureTpm(d);
  if (!id) {
    spdlog::error("TPM: {}", id.error().message);
    return Step::Fail(Step::kPermanent, id.error());  // nothing opened, nothing to reset
  }
  if (!Registered(d, *id, b)) {
    Step s = Register(d, *id, b, stop);
    if (s.kind != Step::kContinue) return s;
    if (stop.stop_requested()) return Step::Fail(Step::kBackoff, MakeError(errc::stopped, "stop"));
  }
  return Round(d, *id, b, stop).Run();
}

}  // namespace attest::agent
