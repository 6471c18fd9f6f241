#include "agent/agent.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

#include "agent/binding.h"
#include "agent/endpoints.h"
#include "agent/errors.h"
#include "agent/sources.h"
#include "agent/state.h"
#include "agent/tpm.h"
#include "attest/v1/attestation.pb.h"
#include "attest/v1/registration.pb.h"

namespace attest::agent {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kProto[] = "application/x-protobuf";
constexpr char kAgentVersion[] = "0.1.0";
constexpr auto kMaxRetryAfter = std::chrono::hours(1);
// Room kept in an evidence for what is added after the IMA entries are
// sized (their framing, the capabilities).
constexpr size_t kEvidenceReserveBytes = 4096;

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }
Bytes FromStr(const std::string& s) { return Bytes(s.begin(), s.end()); }

std::string Hex(const Bytes& b) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t c : b) {
    out += digits[c >> 4];
    out += digits[c & 0xf];
  }
  return out;
}

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

// "404 Not Found: agent ... is not enrolled" from a problem body, else the
// status and the start of the body.
std::string ProblemText(const httpclient::Response& r) {
  std::string text = std::to_string(r.status);
  auto j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded() && j.is_object()) {
    if (j.contains("title") && j["title"].is_string()) text += " " + j["title"].get<std::string>();
    if (j.contains("detail") && j["detail"].is_string()) {
      text += ": " + j["detail"].get<std::string>();
    }
    return text;
  }
  std::string body = r.body.substr(0, 200);
  for (char& c : body) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '.';
  }
  return body.empty() ? text : text + ": " + body;
}

// What a block does next after a step.
struct Step {
  enum Kind {
    kContinue,    // go on with the next step now (registered)
    kAccepted,    // evidence accepted: next round after `delay`
    kWait,        // the server said when (Retry-After): after `delay`
    kBackoff,     // transient failure: exponential backoff
    kReregister,  // the backend lost the registration
    kPermanent,   // will not fix itself: backoff, or end a --once run
  };
  Kind kind = kContinue;
  milliseconds delay{0};
  Error error;

  static Step Of(Kind k, milliseconds d = milliseconds(0)) { return Step{k, d, {}}; }
  static Step Fail(Kind k, Error e) { return Step{k, milliseconds(0), std::move(e)}; }
};

struct Block {
  size_t index = 0;
  std::string name;  // "servers[0]", for logs
  std::string key;   // StateStore key
  std::unique_ptr<Endpoints> registrars;
  std::unique_ptr<Endpoints> verifiers;
  BlockRecord record;
  Clock::time_point due;
  int failures = 0;   // consecutive, for the backoff
  int not_found = 0;  // consecutive 404s on challenge/evidence
  bool attested = false;
};

}  // namespace

struct Agent::Impl {
  AgentConfig config;
  StateStore state;
  std::string uuid;
  std::mt19937_64 rng{std::random_device{}()};
  std::vector<Block> blocks;
  std::unique_ptr<AgentTpm> tpm;
  ImaReader ima;

  Impl(AgentConfig c, StateStore s, std::string u)
      : config(std::move(c)),
        state(std::move(s)),
        uuid(std::move(u)),
        ima(config.ima_log,
            config.ima_log_format == "ascii" ? v1::IMA_LOG_FORMAT_ASCII : v1::IMA_LOG_FORMAT_BINARY,
            static_cast<size_t>(config.ima_max_batch_bytes)) {}

  bool Registered(const Block& b) const {
    if (b.registrars->empty()) return true;  // this backend registers agents elsewhere
    return b.record.registered && b.record.uuid == uuid &&
           b.record.ak_name_hex == Hex(tpm->ak_name());
  }

  milliseconds Backoff(Block& b) {
    int shift = std::min(b.failures, 30);
    int64_t base =
        std::min<int64_t>(int64_t{config.retry_initial_ms} << shift, config.retry_max_ms);
    // Jitter in [base/2, base]: agents that failed together do not retry together.
    int64_t d = std::uniform_int_distribution<int64_t>(base / 2, base)(rng);
    b.failures++;
    return milliseconds(d);
  }

  Step TpmFailure(Error e) {
    tpm.reset();  // reopened next step: a TPM reset loses every transient handle
    return Step::Fail(Step::kPermanent, std::move(e));
  }

  // The answer to a non-success status of `what` from `ep`.
  Step FromStatus(Block& b, Endpoints& ep, const httpclient::Response& r, const std::string& what,
                  bool lost_registration_on_404) {
    std::string text = b.name + ": " + what + " at " + ep.current_url() + ": " + ProblemText(r);
    auto retry_after = r.retry_after();
    if (r.status == 429) {
      auto d = retry_after ? std::min<milliseconds>(*retry_after, kMaxRetryAfter) : Backoff(b);
      spdlog::info("{}; retrying in {} ms", text, d.count());
      return Step::Of(Step::kWait, d);
    }
    if (r.status == 404 && lost_registration_on_404) {
      spdlog::warn("{}; registering again", text);
      return Step::Of(Step::kReregister);
    }
    if (r.status >= 500) {
      ep.Rotate();
      if (r.status == 503 && retry_after) {
        auto d = std::min<milliseconds>(*retry_after, kMaxRetryAfter);
        spdlog::warn("{}; retrying in {} ms", text, d.count());
        return Step::Of(Step::kWait, d);
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

  Step Unreachable(Block& b, Endpoints& ep, const std::string& what, const Error& e) {
    std::string text = b.name + ": " + what + ": " + e.message;
    spdlog::warn("{}", text);
    ep.Rotate();
    return Step::Fail(Step::kBackoff, MakeError(errc::http_status, text));
  }

  Result<void> EnsureTpm() {
    if (tpm) return Ok();
    TpmOptions o;
    o.tcti = config.tcti;
    o.ek_type = config.ek_type;
    o.ak_type = config.ak_type;
    o.ak_path = state.ak_path();
    ATTEST_ASSIGN_OR_RETURN(tpm, AgentTpm::Open(o));
    spdlog::info("TPM ready: {} EK{}, {} AK {}", config.ek_type,
                 tpm->ek_cert().empty() ? " (no certificate)" : " with certificate", config.ak_type,
                 Hex(tpm->ak_name()));
    return Ok();
  }

  Step Register(Block& b) {
    const std::string base = "/v1/agents/" + uuid;
    v1::RegisterRequest req;
    req.set_agent_uuid(uuid);
    req.set_ek_public(Str(tpm->ek_public()));
    req.set_ek_cert(Str(tpm->ek_cert()));
    req.set_ak_public(Str(tpm->ak_public()));
    req.set_agent_version(kAgentVersion);
    auto r = b.registrars->Post(base + "/register", kProto, req.SerializeAsString());
    if (!r) return Unreachable(b, *b.registrars, "register", r.error());
    if (r->status != 200) return FromStatus(b, *b.registrars, *r, "register", false);
    v1::RegisterResponse resp;
    if (!resp.ParseFromString(r->body)) {
      return Step::Fail(
          Step::kPermanent,
          MakeError(errc::protocol_error, b.name + ": register at " + b.registrars->current_url() +
                                              ": the answer is not a RegisterResponse"));
    }
    if (!resp.already_active()) {
      auto secret =
          tpm->Activate(FromStr(resp.credential_blob()), FromStr(resp.encrypted_secret()));
      if (!secret) {
        return Step::Fail(Step::kPermanent,
                          MakeError(errc::tpm_error,
                                    b.name + ": credential activation: " + secret.error().message));
      }
      auto tag = AuthTag(*secret, uuid);
      if (!tag) return Step::Fail(Step::kPermanent, tag.error());
      v1::ActivateRequest act;
      act.set_agent_uuid(uuid);
      act.set_auth_tag(Str(*tag));
      auto a = b.registrars->Post(base + "/activate", kProto, act.SerializeAsString());
      if (!a) return Unreachable(b, *b.registrars, "activate", a.error());
      if (a->status != 200) return FromStatus(b, *b.registrars, *a, "activate", false);
      v1::ActivateResponse ar;
      if (!ar.ParseFromString(a->body) || !ar.active()) {
        return Step::Fail(Step::kPermanent,
                          MakeError(errc::protocol_error,
                                    b.name + ": activate at " + b.registrars->current_url() +
                                        ": the registrar did not confirm the activation"));
      }
    }
    b.record.uuid = uuid;
    b.record.ak_name_hex = Hex(tpm->ak_name());
    b.record.registered = true;
    if (auto s = state.Put(b.key, b.record); !s) return Step::Fail(Step::kPermanent, s.error());
    spdlog::info("{}: registered and active at {}{}", b.name, b.registrars->current_url(),
                 resp.already_active() ? " (already active)" : "");
    return Step::Of(Step::kContinue);
  }

  Step Attest(Block& b, const std::stop_token& stop) {
    const std::string base = "/v1/agents/" + uuid;
    auto boot = BootTime(config.boot_time);
    if (!boot) return Step::Fail(Step::kPermanent, boot.error());
    auto count = ima.Read(UINT64_MAX);
    if (!count) return Step::Fail(Step::kPermanent, count.error());

    v1::AgentCapabilities caps;
    for (auto alg : tpm->active_banks()) caps.add_hash_algorithms(alg);
    caps.add_signature_schemes(tpm->signature_scheme());
    caps.mutable_boot_time()->set_seconds(*boot);
    caps.set_ima_entry_count(count->total_entries);
    caps.set_agent_version(kAgentVersion);

    v1::ChallengeRequest creq;
    creq.set_agent_uuid(uuid);
    *creq.mutable_capabilities() = caps;
    auto r = b.verifiers->Post(base + "/challenges", kProto, creq.SerializeAsString());
    if (!r) return Unreachable(b, *b.verifiers, "challenge", r.error());
    if (r->status != 200) return FromStatus(b, *b.verifiers, *r, "challenge", true);
    v1::Challenge ch;
    if (!ch.ParseFromString(r->body)) {
      return Step::Fail(
          Step::kPermanent,
          MakeError(errc::protocol_error, b.name + ": challenge at " + b.verifiers->current_url() +
                                              ": the answer is not a Challenge"));
    }
    if (ch.token().empty() || ch.token().size() > kMaxNonceBytes) {
      std::string text = b.name + ": challenge from " + b.verifiers->current_url() + ": token is " +
                         std::to_string(ch.token().size()) +
                         " bytes, but a TPM quote's qualifyingData (TPM2B_DATA) holds 1 to at "
                         "most " +
                         std::to_string(kMaxNonceBytes) + " bytes; the gateway's token must fit";
      spdlog::error("{}", text);
      return Step::Fail(Step::kPermanent, MakeError(errc::invalid_challenge, text));
    }
    if (auto mismatch = SelectionMismatch(ch)) {
      // The worker judges the quote by the token: neither selection would
      // give evidence it accepts. Retried later; never a quote that could
      // look like a withheld PCR.
      std::string text =
          b.name + ": challenge from " + b.verifiers->current_url() + " refused: " + *mismatch;
      spdlog::error("{}", text);
      return Step::Fail(Step::kBackoff, MakeError(errc::invalid_challenge, text));
    }
    if (stop.stop_requested()) return Step::Fail(Step::kBackoff, MakeError(errc::stopped, "stop"));

    auto quote = tpm->Quote(FromStr(ch.token()), ch.pcr_selection());
    if (!quote) {
      Error e{quote.error().code, b.name + ": quote: " + quote.error().message};
      spdlog::error("{}", e.message);
      if (quote.error().code == errc::invalid_challenge) {
        return Step::Fail(Step::kPermanent, std::move(e));
      }
      return TpmFailure(std::move(e));
    }
    v1::Evidence ev;
    ev.set_agent_uuid(uuid);
    ev.set_challenge_token(ch.token());
    *ev.mutable_quote() = std::move(quote).value();
    ev.mutable_boot_time()->set_seconds(*boot);
    bool new_boot = *boot != b.record.last_boot_time;
    if (UefiLogAsked(ch) || new_boot) {
      auto log = ReadBounded(config.uefi_log, static_cast<size_t>(config.uefi_log_max_bytes));
      if (log && ch.max_evidence_bytes() > 0 &&
          log->size() + kEvidenceReserveBytes > ch.max_evidence_bytes()) {
        spdlog::error(
            "{}: UEFI event log not sent: {} bytes do not fit the gateway's evidence limit of {} "
            "bytes (its server.max_body_bytes)",
            b.name, log->size(), ch.max_evidence_bytes());
      } else if (log) {
        ev.set_uefi_log(std::move(log).value());
      } else {
        spdlog::warn("{}: UEFI event log not sent: {}", b.name, log.error().message);
      }
    }
    // The IMA entries get what the gateway's body limit leaves: a longer
    // list goes in parts (the gateway asks for the next part soon).
    size_t ima_budget = static_cast<size_t>(config.ima_max_batch_bytes);
    if (ch.max_evidence_bytes() > 0) {
      const size_t used = ev.ByteSizeLong() + kEvidenceReserveBytes;
      ima_budget = ch.max_evidence_bytes() > used
                       ? std::min<uint64_t>(ima_budget, ch.max_evidence_bytes() - used)
                       : 1;  // still one entry: the verifier then says what is wrong
    }
    auto ima_snap = ima.Read(ch.ima_offset(), ima_budget);
    if (!ima_snap) return Step::Fail(Step::kPermanent, ima_snap.error());
    *ev.mutable_ima() = std::move(ima_snap->entries);
    caps.set_ima_entry_count(ima_snap->total_entries);
    *ev.mutable_capabilities() = caps;
    auto e = b.verifiers->Post(base + "/evidence", kProto, ev.SerializeAsString());
    if (!e) return Unreachable(b, *b.verifiers, "evidence", e.error());
    if (e->status != 202 && e->status != 200) {
      return FromStatus(b, *b.verifiers, *e, "evidence", true);
    }
    v1::EvidenceAccepted acc;
    if (!acc.ParseFromString(e->body)) {
      spdlog::warn("{}: evidence accepted but the answer is not an EvidenceAccepted", b.name);
    }
    if (new_boot) {
      b.record.last_boot_time = *boot;
      if (auto s = state.Put(b.key, b.record); !s) spdlog::warn("{}", s.error().message);
    }
    uint32_t interval = acc.next_attestation_seconds() ? acc.next_attestation_seconds()
                        : ch.interval_seconds()        ? ch.interval_seconds()
                                                       : config.default_interval_seconds;
    spdlog::info(
        "{}: evidence {} accepted by {} (PCRs of {} bank(s), {} IMA entries from {}{}); "
        "next in {} s",
        b.name, acc.evidence_id(), b.verifiers->current_url(), ch.pcr_selection_size(),
        ev.ima().entry_count(), ev.ima().start_offset(), ev.uefi_log().empty() ? "" : ", UEFI log",
        interval);
    return Step::Of(Step::kAccepted, seconds(interval));
  }

  Step RunBlock(Block& b, const std::stop_token& stop) {
    if (auto t = EnsureTpm(); !t) {
      spdlog::error("TPM: {}", t.error().message);
      return TpmFailure(t.error());
    }
    if (!Registered(b)) {
      Step s = Register(b);
      if (s.kind != Step::kContinue) return s;
      if (stop.stop_requested())
        return Step::Fail(Step::kBackoff, MakeError(errc::stopped, "stop"));
    }
    return Attest(b, stop);
  }
};

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() = default;

const std::string& Agent::uuid() const { return impl_->uuid; }

Result<std::unique_ptr<Agent>> Agent::Create(AgentConfig config) {
  auto state = StateStore::Open(config.state_dir);
  if (!state) return state.error();
  auto uuid = state->LoadOrCreateUuid(config.uuid);
  if (!uuid) return uuid.error();
  auto impl =
      std::make_unique<Impl>(std::move(config), std::move(state).value(), std::move(uuid).value());
  const AgentConfig& c = impl->config;
  for (size_t i = 0; i < static_cast<size_t>(c.verification_duplication) && i < c.servers.size();
       ++i) {
    Block b;
    b.index = i;
    b.name = "servers[" + std::to_string(i) + "]";
    b.key = BlockKey(c.servers[i]);
    b.registrars = std::make_unique<Endpoints>(c.servers[i].registrars, c, &impl->rng);
    b.verifiers = std::make_unique<Endpoints>(c.servers[i].verifiers, c, &impl->rng);
    b.record = impl->state.Get(b.key);
    impl->blocks.push_back(std::move(b));
  }
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

Result<void> Agent::Run(std::stop_token stop, RunOptions options) {
  Impl& im = *impl_;
  spdlog::info("agent {} starting: {} block(s) of {} configured", im.uuid, im.blocks.size(),
               im.config.servers.size());
  // Every block asks for a challenge at once: that is the agent's "I am back".
  for (auto& b : im.blocks) b.due = Clock::now();
  std::mutex mu;
  std::condition_variable_any cv;
  while (!stop.stop_requested()) {
    if (options.once && std::all_of(im.blocks.begin(), im.blocks.end(),
                                    [](const Block& b) { return b.attested; })) {
      return Ok();
    }
    auto it =
        std::min_element(im.blocks.begin(), im.blocks.end(), [&](const Block& a, const Block& b) {
          bool da = options.once && a.attested, db = options.once && b.attested;
          if (da != db) return db;  // in a --once run, finished blocks wait
          return a.due < b.due;
        });
    {
      std::unique_lock lock(mu);
      cv.wait_until(lock, stop, it->due, [] { return false; });
    }
    if (stop.stop_requested()) break;
    Block& b = *it;
    Step s = im.RunBlock(b, stop);
    auto now = Clock::now();
    switch (s.kind) {
      case Step::kContinue:
        b.due = now;
        break;
      case Step::kAccepted:
        b.failures = 0;
        b.not_found = 0;
        b.attested = true;
        b.due = now + s.delay;
        break;
      case Step::kWait:
        b.due = now + s.delay;
        break;
      case Step::kReregister:
        b.record.registered = false;
        if (auto w = im.state.Put(b.key, b.record); !w) spdlog::warn("{}", w.error().message);
        // The first 404 re-registers at once; repeated ones (registered but
        // not enrolled) back off.
        if (options.once && b.not_found >= 1) {
          return MakeError(errc::http_status, b.name + ": the gateway still does not know agent " +
                                                  im.uuid +
                                                  " after registering again (not enrolled?)");
        }
        b.due = b.not_found++ == 0 ? now : now + im.Backoff(b);
        break;
      case Step::kPermanent:
        if (options.once) return s.error;
        [[fallthrough]];
      case Step::kBackoff: {
        if (s.error.code == errc::stopped) break;
        auto d = im.Backoff(b);
        spdlog::info("{}: next attempt in {} ms", b.name, d.count());
        b.due = now + d;
        break;
      }
    }
  }
  spdlog::info("agent {} stopping", im.uuid);
  return Ok();
}

}  // namespace attest::agent
