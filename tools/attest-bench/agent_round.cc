#include "tools/attest-bench/agent_round.h"

#include <spdlog/spdlog.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <optional>
#include <string>

#include "attest/v1/attestation.pb.h"
#include "common/protoconv/hash_alg.h"
#include "tools/attest-bench/errors.h"
#include "tools/simtpm/sim_tpm.h"

namespace attest::bench {
namespace {

namespace asio = boost::asio;
using asio::use_awaitable;

Result<std::string> BuildEvidence(Shared& s, Agent& a, const v1::Challenge& ch) {
  TPML_PCR_SELECTION sel{};
  tpm::PcrValues values;
  for (const auto& ps : ch.pcr_selection()) {
    if (ps.hash_algorithm() != v1::HASH_ALGORITHM_SHA256 || sel.count > 0) {
      return MakeError(errc::protocol, "challenge asks for a PCR bank other than sha256");
    }
    sel.count = 1;
    sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel.pcrSelections[0].sizeofSelect = 3;
    for (uint32_t p : ps.pcrs()) {
      if (p > 23) return MakeError(errc::protocol, "challenge selects PCR > 23");
      sel.pcrSelections[0].pcrSelect[p / 8] |= static_cast<uint8_t>(1 << (p % 8));
      values[TPM2_ALG_SHA256][p] =
          p == 10 ? tpm::Bytes(a.pcr10.begin(), a.pcr10.end()) : tpm::Bytes(32, 0);
    }
  }
  TPMI_ALG_HASH hash = ch.quote_hash_algorithm() == v1::HASH_ALGORITHM_UNSPECIFIED
                           ? TPM2_ALG_SHA256
                           : protoconv::TpmHashAlg(ch.quote_hash_algorithm());
  a.clock_ms = std::max<uint64_t>(a.clock_ms + 1, static_cast<uint64_t>(WallMs()));
  simtpm::Clock clock{a.clock_ms, s.reset_count, 0, true};
  const auto& token = ch.token();
  tpm::Bytes attest;
  ATTEST_ASSIGN_OR_RETURN(attest, simtpm::MakeQuote(tpm::AsBytes(token), sel, values, hash, clock));
  const StoredKey& key = s.state.keys[a.key];
  tpm::Bytes sig;
  if (key.type == KeyType::kRsa) {
    EVP_PKEY* k = s.rsa_keys[a.key].get();
    ATTEST_ASSIGN_OR_RETURN(sig, simtpm::SignLikeTpm(k, TPM2_ALG_RSASSA, hash, attest));
  } else {
    tpm::EvpPkeyPtr k;
    ATTEST_ASSIGN_OR_RETURN(k, simtpm::KeyFromDer(key.der));
    ATTEST_ASSIGN_OR_RETURN(sig, simtpm::SignLikeTpm(k.get(), TPM2_ALG_ECDSA, hash, attest));
  }
  v1::Evidence ev;
  ev.set_agent_uuid(a.uuid);
  ev.set_challenge_token(token);
  auto* q = ev.mutable_quote();
  q->set_attest(std::string(attest.begin(), attest.end()));
  q->set_signature(std::string(sig.begin(), sig.end()));
  auto* bank = q->add_pcrs();
  bank->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  for (const auto& [i, v] : values[TPM2_ALG_SHA256]) {
    (*bank->mutable_values())[i] = std::string(v.begin(), v.end());
  }
  uint64_t from = ch.ima_offset();
  auto* ima = ev.mutable_ima();
  ima->set_start_offset(from);
  ima->set_entry_count(a.ima_count - from);
  ima->set_format(v1::IMA_LOG_FORMAT_ASCII);
  ima->set_template_hash_algorithm(v1::HASH_ALGORITHM_SHA1);
  ima->set_data(s.pool.AsciiRange(from, a.ima_count));
  ev.mutable_boot_time()->set_seconds(s.boot_time);
  std::string out;
  ev.SerializeToString(&out);
  return out;
}

asio::awaitable<void> Sleep(int64_t ns) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(std::chrono::nanoseconds(ns));
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
}

int64_t RetryAfterNs(const HttpReply& r) {
  return (r.retry_after_seconds >= 0 ? r.retry_after_seconds : 1) * kSecond;
}

// The challenge for agent `idx`'s round, or nullopt when the round ended
// (the agent is rescheduled and the failure counted).
asio::awaitable<std::optional<v1::Challenge>> AskChallenge(Shared& s, HttpsConnection& conn,
                                                           uint32_t idx) {
  Agent& a = s.agents[idx];
  auto& c = s.counters;
  v1::ChallengeRequest creq;
  creq.set_agent_uuid(a.uuid);
  auto* caps = creq.mutable_capabilities();
  caps->add_hash_algorithms(v1::HASH_ALGORITHM_SHA256);
  caps->add_signature_schemes(s.state.keys[a.key].type == KeyType::kRsa
                                  ? v1::SIGNATURE_SCHEME_RSASSA
                                  : v1::SIGNATURE_SCHEME_ECDSA);
  caps->mutable_boot_time()->set_seconds(s.boot_time);
  caps->set_ima_entry_count(a.ima_count);
  caps->set_agent_version("attest-bench");
  std::string body;
  creq.SerializeToString(&body);
  auto reply = co_await conn.Post("/v1/agents/" + a.uuid + "/challenges", std::move(body));
  if (!reply) {
    ++c.transport;
    s.sched.Retry(idx, NowNs(), kSecond);
    co_return std::nullopt;
  }
  if (reply->status == 429 || reply->status == 503) {
    c.Add(c.throttled, reply->status);
    s.sched.Retry(idx, NowNs(), RetryAfterNs(*reply));
    co_return std::nullopt;
  }
  v1::Challenge ch;
  if (reply->status != 200) {
    c.Add(c.challenge_refused, reply->status);
    s.sched.Retry(idx, NowNs(), kSecond);
    co_return std::nullopt;
  }
  if (!ch.ParseFromString(reply->body) || ch.ima_offset() > a.ima_count) {
    ++c.protocol;
    s.sched.Retry(idx, NowNs(), kSecond);
    co_return std::nullopt;
  }
  co_return ch;
}

// POSTs `evidence` (retrying 429/503 and transport errors up to
// max_retries) and hands the accepted evidence id to the tracker.
asio::awaitable<void> SendEvidence(Shared& s, HttpsConnection& conn, uint32_t idx,
                                   const std::string& evidence) {
  Agent& a = s.agents[idx];
  auto& c = s.counters;
  const std::string target = "/v1/agents/" + a.uuid + "/evidence";
  const int64_t sent = NowNs();
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) ++c.retries;
    auto r = co_await conn.Post(target, evidence);
    int64_t delay = kSecond;
    if (!r) {
      ++c.transport;
    } else if (r->status == 202) {
      v1::EvidenceAccepted acc;
      if (!acc.ParseFromString(r->body) || acc.evidence_id().empty()) {
        ++c.protocol;
        s.sched.Retry(idx, NowNs(), kSecond);
        co_return;
      }
      // Awaiting first: the verdict thread may decide it right away.
      s.sched.Awaiting(idx, NowNs());
      if (s.tracker.Accepted(acc.evidence_id(), {idx, a.round}, sent)) {
        s.sched.Decided({idx, a.round}, NowNs());
      }
      co_return;
    } else if (r->status == 429 || r->status == 503) {
      c.Add(c.throttled, r->status);
      delay = RetryAfterNs(*r);
    } else {
      c.Add(c.refused, r->status);
      s.sched.Retry(idx, NowNs(), kSecond);
      co_return;
    }
    if (attempt >= s.o.max_retries || s.stop) {
      c.Add(c.refused, r ? r->status : 0);
      s.sched.Retry(idx, NowNs(), delay);
      co_return;
    }
    co_await Sleep(delay);
  }
}

// One round of agent `idx` on `conn`.
asio::awaitable<void> Round(Shared& s, HttpsConnection& conn, uint32_t idx) {
  Agent& a = s.agents[idx];
  ++s.counters.rounds;
  const uint32_t k = s.o.ima_entries_per_round;
  s.pool.Extend(a.pcr10, a.ima_count, a.ima_count + k);
  a.ima_count += k;
  std::optional<v1::Challenge> ch = co_await AskChallenge(s, conn, idx);
  if (!ch) co_return;
  auto evidence = BuildEvidence(s, a, *ch);
  if (!evidence) {
    ++s.counters.protocol;
    spdlog::warn("agent {}: {}", a.uuid, evidence.error().message);
    s.sched.Retry(idx, NowNs(), kSecond);
    co_return;
  }
  co_await SendEvidence(s, conn, idx, *evidence);
}

}  // namespace

asio::awaitable<void> ConnectionLoop(Shared& s, std::unique_ptr<HttpsConnection> conn) {
  while (!s.stop) {
    auto next = s.sched.Next(NowNs());
    if (auto* wait = std::get_if<int64_t>(&next)) {
      co_await Sleep(*wait);
      continue;
    }
    co_await Round(s, *conn, std::get<uint32_t>(next));
  }
  s.counters.connects += conn->connects();
  conn->Close();
  s.active.fetch_sub(1);
}

}  // namespace attest::bench
