// Shared fixture of the worker tests: a migrated PostgreSQL database, the
// pipeline's topics (tests/harness/kafka: Apache Kafka, unique names), token
// and revocation keys, simulated agents whose quotes are built in software
// (tests/verifier/soft_tpm.h) with IMA lists from the Keylime vectors, and a
// collector of the verdict / revocation topics.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include "attest/v1/attestation.pb.h"
#include "attest/v1/verdict.pb.h"
#include "common/base/uuid.h"
#include "common/credential/credential.h"
#include "common/ima/log.h"
#include "common/ima/policy.h"
#include "common/kafka/consumer.h"
#include "common/kafka/partitioner.h"
#include "common/kafka/producer.h"
#include "common/token/token.h"
#include "tests/harness/kafka/kafka_cluster.h"
#include "tests/harness/postgres/postgres_server.h"
#include "tests/verifier/soft_tpm.h"
#include "tests/verifier/test_util.h"
#include "verifier-workers/config.h"

namespace attest::worker::test {

constexpr int kPartitions = 12;  // of the evidence topic (enrolments.partition)
inline const std::string kTokenKeyHex =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

inline std::string RandomUuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::array<uint8_t, 16> bytes{};
  for (size_t i = 0; i < bytes.size(); i += 8) {
    const uint64_t r = rng();
    for (size_t j = 0; j < 8; ++j) bytes[i + j] = static_cast<uint8_t>(r >> (8 * j));
  }
  return UuidText(UuidV4(bytes));
}

inline std::string AkTpm2bPublic(const TPMT_PUBLIC& pub) {
  auto area = tpm::MarshalPublicArea(pub);
  if (!area) throw std::runtime_error("marshal AK");
  std::string out{static_cast<char>(area->size() >> 8), static_cast<char>(area->size() & 0xff)};
  out.append(area->begin(), area->end());
  return out;
}

// Digest of IMA entry `e` as extended into PCR 10 of the SHA-256 bank.
inline tpm::Bytes ImaPcrDigest(const ima::Entry& e) {
  ima::Hasher h;
  auto d = e.IsViolation() ? ima::Digest::Filled(32, 0xff)
                           : h.Hash(ima::HashAlg::kSha256, ima::AsBytes(e.data));
  return tpm::Bytes(d.view().begin(), d.view().end());
}

// A runtime policy allowing the first `n` entries of `log`.
inline std::string RuntimePolicyFor(const ima::Log& log, size_t n) {
  ima::Log known;
  known.template_hash_alg = log.template_hash_alg;
  known.entries.assign(log.entries.begin(), log.entries.begin() + static_cast<std::ptrdiff_t>(n));
  return ima::GeneratePolicy(known).ToJson();
}

// An evidence envelope for `uuid` carrying IMA entries [from, extended) of
// `log`; `quote` gets the challenge token (the nonce) and fills the
// evidence's quote (TPM or software).
inline std::string MakeEnvelope(const token::KeySet& keys, const std::string& uuid, uint64_t from,
                                const ima::Log& log, size_t extended, int64_t boot_time,
                                const std::function<void(const std::string&, v1::Quote*)>& quote,
                                bool break_token = false) {
  auto now = token::Clock::now();
  // Bound to what the simulated agents quote (sha256 PCR 10, see SimAgent).
  auto tok = token::Issue(keys, uuid, now, from,
                          token::Binding{.pcr_bank = TPM2_ALG_SHA256, .pcr_mask = 1u << 10});
  if (!tok) throw std::runtime_error(tok.error().message);
  std::string nonce = *tok;
  if (break_token) nonce[40] ^= 1;
  v1::EvidenceEnvelope env;
  env.set_evidence_id(RandomUuid());
  auto* e = env.mutable_evidence();
  e->set_agent_uuid(uuid);
  e->set_challenge_token(nonce);
  quote(nonce, e->mutable_quote());
  auto* ima = e->mutable_ima();
  ima->set_start_offset(from);
  ima->set_entry_count(extended - from);
  ima->set_format(v1::IMA_LOG_FORMAT_ASCII);
  ima->set_data(verifier::test::AsciiSlice(log, from, extended));
  e->mutable_boot_time()->set_seconds(boot_time);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  env.mutable_received_at()->set_seconds(us / 1'000'000);
  env.mutable_received_at()->set_nanos(static_cast<int>(us % 1'000'000) * 1000);
  env.set_gateway_id("test");
  std::string out;
  env.SerializeToString(&out);
  return out;
}

// A simulated agent: software TPM + its IMA list.
struct SimAgent {
  std::string uuid = RandomUuid();
  verifier::test::SoftTpm tpm{true};
  ima::Log log = verifier::test::KeylimeImaLog();
  size_t extended = 0;  // entries of `log` extended into PCR 10 so far
  int64_t boot_time = 1'700'000'000;

  // Extends entries [extended, n) into PCR 10.
  void ExtendTo(size_t n) {
    for (; extended < n; ++extended) tpm.Extend(10, ImaPcrDigest(log.entries[extended]));
  }
  void Reboot() {
    tpm.Reboot();
    extended = 0;
    boot_time += 3600;
  }
  std::string ak_public() const { return AkTpm2bPublic(tpm.public_area()); }
  // Evidence carrying entries [from, extended) quoted now.
  std::string Envelope(const token::KeySet& keys, uint64_t from, bool break_token = false) {
    return MakeEnvelope(
        keys, uuid, from, log, extended, boot_time,
        [&](const std::string& nonce, v1::Quote* out) {
          auto q = tpm.Quote(tpm::Bytes(nonce.begin(), nonce.end()), {10});
          out->set_attest(std::string(q.quote.begin(), q.quote.end()));
          out->set_signature(std::string(q.signature.begin(), q.signature.end()));
          auto* bank = out->add_pcrs();
          bank->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
          for (const auto& [i, v] : q.pcrs.at(TPM2_ALG_SHA256)) {
            (*bank->mutable_values())[i] = std::string(v.begin(), v.end());
          }
        },
        break_token);
  }
  // A runtime policy allowing the first `n` entries of the list.
  std::string RuntimePolicy(size_t n) const { return RuntimePolicyFor(log, n); }
  // Appends an entry the policy does not know ("a binary outside the policy").
  void AddEvilEntry(const std::string& path) {
    tpm::Bytes digest(32, 0x42);
    auto evil = ima::MakeEntry(ima::Template::kImaNg, "sha256", digest, path);
    if (!evil) throw std::runtime_error("MakeEntry");
    ima::Hasher h;
    evil->template_hash = h.Hash(ima::HashAlg::kSha1, ima::AsBytes(evil->data));
    log.entries.insert(log.entries.begin() + static_cast<std::ptrdiff_t>(extended), *evil);
  }
};

// A list of `n` entries of template `t` over 1,000 distinct files (a host
// that has run for months).
inline ima::Log LongImaList(ima::Template t, size_t n) {
  ima::Log log;
  log.entries.reserve(n);
  ima::Hasher h;
  tpm::Bytes sig(9 + 256, 0x5a);  // a well-formed ima-sig header, RSA-2048 size
  sig[0] = 3, sig[1] = 2, sig[2] = 4, sig[7] = 1, sig[8] = 0;
  for (size_t i = 0; i < n; ++i) {
    tpm::Bytes digest(32, static_cast<uint8_t>(i % 1000));
    digest[1] = static_cast<uint8_t>((i % 1000) >> 8);
    auto e = ima::MakeEntry(t, "sha256", digest,
                            "/usr/lib/x86_64-linux-gnu/lib" + std::to_string(i % 1000) + ".so.1",
                            t == ima::Template::kImaSig ? sig : tpm::Bytes{});
    if (!e) throw std::runtime_error("MakeEntry");
    e->template_hash = h.Hash(ima::HashAlg::kSha1, ima::AsBytes(e->data));
    log.entries.push_back(std::move(*e));
  }
  return log;
}

// Evidence of `a` carrying the part of its list that starts at `from`, as
// the agent cuts it: whole entries of the binary list up to `max_bytes`
// (at least one), with the list's length in capabilities so a part that the
// quote does not reach is "catching up". `*end` gets the entry after it.
inline std::string ImaPartEnvelope(SimAgent& a, const token::KeySet& keys, uint64_t from,
                                   size_t max_bytes, size_t* end) {
  size_t bytes = 0, to = from;
  ima::Log slice;
  while (to < a.log.entries.size()) {
    const auto& e = a.log.entries[to];
    const size_t len = 4 + 20 + 4 + ima::TemplateName(e.tmpl).size() + 4 + e.data.size();
    if (bytes + len > max_bytes && to > from) break;
    bytes += len;
    slice.entries.push_back(e);
    ++to;
  }
  *end = to;
  v1::EvidenceEnvelope env;
  if (!env.ParseFromString(a.Envelope(keys, from))) throw std::runtime_error("envelope");
  auto* ev = env.mutable_evidence();
  ev->mutable_ima()->set_format(v1::IMA_LOG_FORMAT_BINARY);
  ev->mutable_ima()->set_entry_count(to - from);
  ev->mutable_ima()->set_data(ima::WriteBinary(slice));
  ev->mutable_capabilities()->set_ima_entry_count(a.extended);
  return env.SerializeAsString();
}

// The TPM name of an AK (TPM2B_PUBLIC bytes), as the registrar stores it
// beside the public area: the worker caches parsed AKs by this name.
inline std::string AkName(const std::string& ak_public) {
  auto name = credential::ObjectName(tpm::Bytes(ak_public.begin(), ak_public.end()));
  if (!name) throw std::runtime_error("AK name: " + name.error().message);
  return std::string(name->begin(), name->end());
}

// Registers agent `uuid` with AK `ak_public` (TPM2B_PUBLIC) and enrols it
// with `runtime_policy` (version 1).
inline void EnrolAgent(pqxx::connection& c, const std::string& uuid, const std::string& ak_public,
                       const std::string& runtime_policy, int interval = 60, double grace = 3) {
  pqxx::work tx(c);
  tx.exec_params(
      "INSERT INTO registrations (agent_id, ek_public, ak_public, ak_name, state, activated_at) "
      "VALUES ($1, '\\x01', $2, $3, 'active', now())",
      uuid, pqxx::binarystring(ak_public.data(), ak_public.size()),
      pqxx::binarystring(AkName(ak_public)));
  auto pid = tx.exec_params1(
                   "INSERT INTO policies (kind, name, agent_id, version, body) "
                   "VALUES ('runtime', $1::text, $1::uuid, 1, $2::jsonb) RETURNING policy_id",
                   uuid, runtime_policy)[0]
                 .as<int64_t>();
  tx.exec_params(
      "INSERT INTO enrolments (agent_id, runtime_policy_id, interval_seconds, grace_factor, "
      "partition) VALUES ($1, $2, $3, $4, $5)",
      uuid, pid, interval, grace, kafka::PartitionFor(uuid, kPartitions));
  tx.commit();
}

// Registers and enrols `a` (runtime policy over its first `allowed` entries).
inline void Enrol(pqxx::connection& c, const SimAgent& a, size_t allowed, int interval = 60,
                  double grace = 3) {
  EnrolAgent(c, a.uuid, a.ak_public(), a.RuntimePolicy(allowed), interval, grace);
}

struct Record {
  std::string topic;
  std::string key;
  std::string value;
  std::string content_type;
};

using attest::testing::PipelineTopics;

// The topic names the services use by default: the dev broker creates them
// on first use (the benchmarks' ATTEST_BENCH_KAFKA=dev).
inline PipelineTopics DefaultTopics() {
  return {"attestation.evidence", "attestation.verdicts", "attestation.revocations"};
}

// Consumes the verdict and revocation topics from the beginning.
class Collector {
 public:
  Collector(const std::string& bootstrap, const PipelineTopics& topics) : topics_(topics) {
    kafka::ConsumerConfig cc;
    cc.bootstrap_servers = bootstrap;
    cc.group_id = "collector-" + RandomUuid();
    cc.topics = {topics.verdicts, topics.revocations};
    cc.session_timeout = std::chrono::milliseconds(6000);
    cc.heartbeat_interval = std::chrono::milliseconds(500);
    auto c = kafka::Consumer::Create(cc, nullptr);
    if (!c) throw std::runtime_error(c.error().message);
    consumer_ = std::move(*c);
    thread_ = std::thread([this] {
      while (!stop_) {
        auto msgs = consumer_->Poll(std::chrono::milliseconds(100), 1000);
        if (!msgs) continue;
        std::lock_guard lock(mu_);
        for (auto& m : *msgs) {
          Record r{m.topic, m.key, m.value, ""};
          for (const auto& h : m.headers) {
            if (h.name == "content-type") r.content_type = h.value;
          }
          records_.push_back(std::move(r));
        }
      }
      (void)consumer_->Close();
    });
  }
  ~Collector() {
    stop_ = true;
    thread_.join();
  }
  std::vector<Record> Records() {
    std::lock_guard lock(mu_);
    return records_;
  }
  std::vector<v1::Verdict> Verdicts(const std::string& agent) {
    std::vector<v1::Verdict> out;
    for (const auto& r : Records()) {
      if (r.topic != topics_.verdicts || r.key != agent) continue;
      v1::Verdict v;
      if (v.ParseFromString(r.value)) out.push_back(v);
    }
    return out;
  }
  // Waits for a verdict of `agent` with `sequence`.
  std::optional<v1::Verdict> WaitVerdict(
      const std::string& agent, uint64_t sequence,
      std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    std::optional<v1::Verdict> found;
    attest::testing::WaitFor(
        [&] {
          for (auto& v : Verdicts(agent)) {
            if (v.sequence() == sequence) {
              found = v;
              return true;
            }
          }
          return false;
        },
        timeout);
    return found;
  }

 private:
  const PipelineTopics topics_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Record> records_;
  std::thread thread_;
};

// Writes the token key and a P-256 revocation key pair (openssl CLI) into `dir`.
struct KeyFiles {
  std::filesystem::path token, revocation, revocation_pub;
  explicit KeyFiles(const std::filesystem::path& dir) {
    token = dir / "token.key";
    revocation = dir / "revocation.pem";
    revocation_pub = dir / "revocation.pub.pem";
    { std::ofstream(token) << kTokenKeyHex << "\n"; }
    std::string out;
    if (attest::testing::RunCommand({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                                     "ec_paramgen_curve:P-256", "-out", revocation.string()},
                                    &out) != 0 ||
        attest::testing::RunCommand({"openssl", "pkey", "-in", revocation.string(), "-pubout",
                                     "-out", revocation_pub.string()},
                                    &out) != 0) {
      throw std::runtime_error("openssl: " + out);
    }
  }
};

inline WorkerConfig MakeConfig(const std::string& bootstrap, const PipelineTopics& topics,
                               const std::string& conninfo, const KeyFiles& keys,
                               const std::string& group) {
  WorkerConfig c;
  c.worker_id = "test-" + group;
  c.kafka_bootstrap = bootstrap;
  c.evidence_topic = topics.evidence;
  c.verdict_topic = topics.verdicts;
  c.revocation_topic = topics.revocations;
  c.group_id = group;
  c.session_timeout = std::chrono::milliseconds(6000);
  c.database_conninfo = conninfo;
  c.batch_max_count = 100;
  c.batch_max_time = std::chrono::milliseconds(10);
  c.verification_threads = 2;
  c.token_key_files = {keys.token.string()};
  c.revocation_key_file = keys.revocation.string();
  c.revocation_key_id = "test-key";
  c.sweep_period = std::chrono::milliseconds(200);
  c.metrics_address = "127.0.0.1:0";
  return c;
}

inline token::KeySet TestKeys() {
  std::string secret;
  for (size_t i = 0; i < kTokenKeyHex.size(); i += 2) {
    secret.push_back(static_cast<char>(std::stoi(kTokenKeyHex.substr(i, 2), nullptr, 16)));
  }
  auto k = token::KeySet::FromSecrets({secret});
  if (!k) throw std::runtime_error(k.error().message);
  return *k;
}

}  // namespace attest::worker::test
