#include "tools/attest-bench/enrol.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/tpm/marshal.h"
#include "registrar/admin_client.h"
#include "registrar/soft_identity.h"
#include "tools/attest-bench/errors.h"
#include "tools/attest-bench/state_file.h"
#include "tools/simtpm/sim_ima.h"
#include "tools/simtpm/sim_tpm.h"

namespace attest::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

Result<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) return MakeError(errc::io_error, "cannot read admin token file " + path);
  std::string t;
  std::getline(in, t);
  while (!t.empty() && (t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.empty()) return MakeError(errc::invalid_argument, "admin token file " + path + " is empty");
  return t;
}

// Generates the keys (in parallel) and fills `st`; `ak_hex[i]` is the
// TPM2B_PUBLIC of key i in hex.
Result<void> MakeKeys(const EnrolOptions& o, BenchState& st, std::vector<std::string>& ak_hex) {
  const size_t n = o.agents;
  size_t n_rsa = o.ak == AkMode::kRsa ? n : o.ak == AkMode::kMix ? n / 2 : 0;
  size_t rsa_keys = std::min(n_rsa, std::max<size_t>(o.rsa_keys, 1));
  size_t n_ecc = n - n_rsa;
  // Keys [0, n_ecc) are ECC (one per ECC agent), then rsa_keys RSA keys.
  st.keys.resize(n_ecc + rsa_keys);
  ak_hex.resize(st.keys.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex err_mu;
  std::string err;
  auto work = [&] {
    for (size_t i; !failed && (i = next.fetch_add(1)) < st.keys.size();) {
      bool ecc = i < n_ecc;
      auto ak = ecc ? simtpm::MakeEccAk() : simtpm::MakeRsaAk(2048);
      Result<std::vector<uint8_t>> der =
          ak ? simtpm::PrivateDer(ak->key.get()) : Result<std::vector<uint8_t>>(ak.error());
      Result<std::vector<uint8_t>> pub =
          ak ? simtpm::Tpm2bPublic(ak->pub) : Result<std::vector<uint8_t>>(ak.error());
      if (!der || !pub) {
        std::lock_guard lock(err_mu);
        err = !der ? der.error().message : pub.error().message;
        failed = true;
        return;
      }
      st.keys[i] = {ecc ? KeyType::kEcc : KeyType::kRsa, std::move(*der)};
      ak_hex[i] = tpm::ToHex(*pub);
    }
  };
  int threads = o.keygen_threads > 0 ? o.keygen_threads
                                     : static_cast<int>(std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(threads, 1); ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (failed) return MakeError(errc::crypto, "key generation: " + err);
  st.uuids.resize(n);
  st.key_of.resize(n);
  // Interleave RSA and ECC agents in mix mode so any slice has both.
  size_t e = 0, r = 0;
  for (size_t i = 0; i < n; ++i) {
    bool rsa = n_rsa > 0 && (o.ak == AkMode::kRsa || (i % 2 == 1 && r < n_rsa) || e >= n_ecc);
    st.uuids[i] = RandomUuid();
    if (rsa) {
      st.key_of[i] = static_cast<uint32_t>(n_ecc + (r++ % rsa_keys));
    } else {
      st.key_of[i] = static_cast<uint32_t>(e++);
    }
  }
  return Ok();
}

// The request body of batch `b`: agents [b * batch, (b + 1) * batch).
nlohmann::json BulkBody(const EnrolOptions& o, const BenchState& st,
                        const std::vector<std::string>& ak_hex, const std::string& ek_hex,
                        const std::string& runtime_policy, const std::string& policy_name,
                        size_t b) {
  nlohmann::json body = {{"ek_public", ek_hex},
                         {"runtime_policy", runtime_policy},
                         {"interval_seconds", o.interval_seconds},
                         {"grace_factor", o.grace_factor}};
  if (!policy_name.empty()) body["policy_name"] = policy_name;
  auto& agents = body["agents"] = nlohmann::json::array();
  for (size_t i = b * o.batch; i < std::min(o.agents, (b + 1) * o.batch); ++i) {
    agents.push_back({{"uuid", UuidText(st.uuids[i])}, {"ak_public", ak_hex[st.key_of[i]]}});
  }
  return body;
}

// POSTs one batch and adds the registrar's counts.
Result<void> SendBatch(registrar::AdminClient& client, const nlohmann::json& body,
                       std::atomic<size_t>& enrolled, std::atomic<size_t>& existing) {
  auto reply = client.Call("POST", "/v1/admin/agents:bulk", body.dump());
  if (!reply) return reply.error();
  if (reply->status != 200) {
    return MakeError(errc::protocol, "bulk enrolment: HTTP " + std::to_string(reply->status) +
                                         ": " + reply->body.substr(0, 300));
  }
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(errc::protocol, "bulk enrolment: answer is not JSON");
  }
  enrolled += j.value("enrolled", 0ull);
  existing += j.value("existing", 0ull);
  return Ok();
}

}  // namespace

Result<EnrolReport> RunEnrol(const EnrolOptions& o) {
  if (o.agents == 0 || o.agents > 10'000'000) {
    return MakeError(errc::invalid_argument, "--agents: expected 1..10000000");
  }
  if (o.batch == 0 || o.batch > 10'000) {
    return MakeError(errc::invalid_argument, "--batch: expected 1..10000");
  }
  std::string token;
  ATTEST_ASSIGN_OR_RETURN(token, ReadToken(o.admin_token_file));
  auto pool = simtpm::ImaPool::Create(o.ima_pool);
  if (!pool) return pool.error();
  // One EK for every simulated agent: the bulk path stores it but does not
  // use it (no credential activation), so distinct EKs would only cost time.
  auto ek = registrar::SoftIdentity::Generate();
  if (!ek) return ek.error();

  EnrolReport rep;
  rep.agents = o.agents;
  BenchState st;
  st.interval_seconds = o.interval_seconds;
  st.ima_pool = o.ima_pool;
  std::vector<std::string> ak_hex;
  auto t0 = Clock::now();
  ATTEST_RETURN_IF_ERROR(MakeKeys(o, st, ak_hex));
  rep.keygen_seconds = Since(t0);
  spdlog::info("enrol: {} keys for {} agents in {:.1f} s", st.keys.size(), o.agents,
               rep.keygen_seconds);

  const std::string ek_hex = tpm::ToHex(ek->ek_public());
  const size_t batches = (o.agents + o.batch - 1) / o.batch;
  std::atomic<size_t> next{0}, enrolled{0}, existing{0};
  std::atomic<bool> failed{false};
  std::mutex err_mu;
  Error err = MakeError(errc::ok, "");
  std::string policy_name = o.policy_name;
  auto t1 = Clock::now();
  auto work = [&] {
    registrar::AdminClientOptions co;
    co.base_url = o.registrar_url;
    co.ca_file = o.ca_file;
    co.token = token;
    co.timeout = std::chrono::minutes(5);
    auto client = registrar::AdminClient::Create(co);
    auto fail = [&](Error e) {
      std::lock_guard lock(err_mu);
      if (!failed.exchange(true)) err = std::move(e);
    };
    if (!client) return fail(client.error());
    for (size_t b; !failed && (b = next.fetch_add(1)) < batches;) {
      const nlohmann::json body =
          BulkBody(o, st, ak_hex, ek_hex, pool->RuntimePolicy(), policy_name, b);
      if (auto sent = SendBatch(*client, body, enrolled, existing); !sent) {
        return fail(sent.error());
      }
      if (b % 100 == 99) spdlog::info("enrol: {} batches of {} sent", b + 1, batches);
    }
  };
  std::vector<std::thread> senders;
  for (int t = 0; t < std::max(o.parallel, 1); ++t) senders.emplace_back(work);
  for (auto& t : senders) t.join();
  if (failed) return err;
  rep.enrol_seconds = Since(t1);
  rep.enrolled = enrolled;
  rep.existing = existing;
  st.policy_name = policy_name;
  ATTEST_RETURN_IF_ERROR(WriteState(o.state_file, st));
  return rep;
}

std::string EnrolReportJson(const EnrolReport& r) {
  nlohmann::json j = {{"agents", r.agents},
                      {"enrolled", r.enrolled},
                      {"existing", r.existing},
                      {"keygen_seconds", r.keygen_seconds},
                      {"enrol_seconds", r.enrol_seconds},
                      {"enrol_agents_per_second", r.enrol_rate()}};
  return j.dump(2);
}

}  // namespace attest::bench
