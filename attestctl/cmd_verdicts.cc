// attestctl verdicts tail: the SOC's view of attestation.verdicts (and, with
// --revocations, attestation.revocations), decoded and filtered.
//
//   attestctl verdicts tail [--bootstrap HOST:PORT] [--kafka-property k=v]...
//       [--from-beginning]
//       [--agent UUID]... [--result pass|fail|...]... [--count N]
//       [--timeout SECONDS] [--json] [--revocations | --only-revocations]
//       [--revocation-key PEM] [--verdict-key PEM]
//   attestctl verdicts verify --key PEM --signature BASE64 --key-id ID
//       [--algorithm ALG] [--content-type TYPE] [--json] FILE|-
//
// It joins a consumer group of its own (unique per run, nothing committed),
// so it never takes partitions from the workers. Records are Protobuf or
// JSON, by their content-type header (record_codec.h). One line per record:
// text, or with --json one JSON object per line (Protobuf's JSON mapping).
//
// --verdict-key checks each verdict's signature (record headers attest-sig,
// attest-sig-alg, attest-key-id; docs/soc.md): an unsigned verdict counts as
// invalid. `verdicts verify` checks one record value saved to a file. Both
// check over the signature contexts of worker/revocation.h
// ("attest.v1.Verdict\0" || value, "attest.v1.RevocationEvent\0" || event),
// so a record signed as one kind never verifies as the other.
//
// Exit codes: 0 stopped normally (--count reached, idle --timeout, Ctrl-C);
// 1 a revocation's (--revocation-key) or verdict's (--verdict-key) signature
// was invalid; 2 usage error or
// unreadable key; 3 Kafka unreachable (no assignment within
// --connect-timeout) or a Kafka error; 4 --timeout passed before --count
// records matched.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "attestctl/command_registry.h"
#include "attestctl/record_codec.h"
#include "attestctl/tail_format.h"
#include "common/base/escape.h"
#include "common/base/uuid.h"
#include "common/kafka/consumer.h"
#include "verifier-workers/revocation.h"

namespace attest::ctl {
namespace {

constexpr int kExitKafka = 3;
constexpr int kExitCountNotReached = 4;

// Set from the signal handler: the only state a handler may touch.
volatile std::sig_atomic_t g_stop = 0;
extern "C" void OnStopSignal(int) { g_stop = 1; }

struct TailArgs {
  std::string bootstrap;
  std::vector<std::string> properties;  // k=v: librdkafka properties (SASL, TLS)
  std::string verdict_topic = "attestation.verdicts";
  std::string revocation_topic = "attestation.revocations";
  std::string group;
  bool from_beginning = false;
  bool revocations = false;
  bool only_revocations = false;
  std::string revocation_key;
  std::string verdict_key;
  std::vector<std::string> agents;
  std::vector<std::string> results;
  uint64_t count = 0;    // 0: no limit
  double timeout_s = 0;  // 0: no idle timeout
  double connect_timeout_s = 30;
  bool json = false;
  bool verbose = false;
};

// Every partition starts at the beginning or the end: no committed offsets.
class StartAt : public kafka::RebalanceListener {
 public:
  explicit StartAt(int64_t start) : start_(start) {}
  Result<void> OnAssigned(std::vector<kafka::TopicPartition>& parts) override {
    for (auto& p : parts) p.offset = start_;
    partitions_ += parts.size();
    return Ok();
  }
  void OnRevoked(const std::vector<kafka::TopicPartition>&) override {}
  void OnLost(const std::vector<kafka::TopicPartition>&) override {}
  size_t partitions() const { return partitions_; }

 private:
  int64_t start_;
  size_t partitions_ = 0;
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string UniqueGroup() {
  char host[128] = {0};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::random_device rd;
  return "attestctl-tail-" + std::string(host) + "-" + std::to_string(getpid()) + "-" +
         std::to_string(rd());
}

std::string HeaderValue(const kafka::Message& m, const std::string& name) {
  for (const auto& h : m.headers) {
    if (Lower(h.name) == name) return h.value;
  }
  return "";
}

// A published public key (PEM) for `flag`; CommandError when unreadable.
worker::PkeyPtr LoadKeyFlag(const std::string& flag, const std::string& path) {
  std::string pem;
  try {
    pem = ReadFileLimited(path);
  } catch (const std::exception& e) {
    throw CommandError{kExitUsage, flag + " " + path + ": " + e.what()};
  }
  auto k = worker::LoadPublicKeyPem(pem);
  if (!k) throw CommandError{kExitUsage, flag + " " + path + ": " + k.error().message};
  return std::move(*k);
}

// The signature headers of a verdict record, checked with `key`.
SignatureCheck CheckVerdict(const kafka::Message& m, EVP_PKEY* key) {
  const std::string sig_b64 = HeaderValue(m, std::string(worker::kHeaderSignature));
  auto sig = worker::Base64Decode(sig_b64);
  if (!sig) return SignatureCheck::kInvalid;
  const std::string content_type = HeaderValue(m, "content-type");
  const std::string alg = HeaderValue(m, std::string(worker::kHeaderSignatureAlgorithm));
  const std::string key_id = HeaderValue(m, std::string(worker::kHeaderKeyId));
  worker::SignedVerdictRecord r{m.value, content_type, alg, key_id, *sig};
  return worker::VerifyVerdict(r, key) ? SignatureCheck::kValid : SignatureCheck::kInvalid;
}

using Clock = std::chrono::steady_clock;

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// The consumer: a group of its own, the topics asked for, quiet librdkafka.
kafka::ConsumerConfig TailConsumerConfig(const TailArgs& a, const std::string& bootstrap,
                                         bool with_revocations) {
  kafka::ConsumerConfig cc;
  cc.bootstrap_servers = bootstrap;
  cc.group_id = a.group.empty() ? UniqueGroup() : a.group;
  cc.client_id = "attestctl-tail";
  if (!a.only_revocations) cc.topics.push_back(a.verdict_topic);
  if (with_revocations) cc.topics.push_back(a.revocation_topic);
  cc.auto_offset_reset = a.from_beginning ? "earliest" : "latest";
  cc.session_timeout = std::chrono::milliseconds(10000);
  cc.heartbeat_interval = std::chrono::milliseconds(1000);
  cc.first_assignment_timeout = std::chrono::milliseconds(1000);
  cc.extra = {{"log_level", a.verbose ? "6" : "0"}, {"topic.metadata.refresh.interval.ms", "5000"}};
  for (const auto& p : a.properties) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw CommandError{kExitUsage, "--kafka-property " + p + ": expected name=value"};
    }
    cc.extra[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return cc;
}

// Tail's records as lines to print: decoded, filtered, signatures checked.
struct RecordLines {
  const TailArgs& a;
  const TailFilter& filter;
  bool with_revocations;
  EVP_PKEY* revocation_key;        // nullptr: revocation signatures unchecked
  EVP_PKEY* verdict_key;           // nullptr: verdict signatures unchecked
  bool invalid_signature = false;  // a checked signature failed

  // The line for `m`, or nullopt when filtered out or undecodable (said on
  // stderr).
  std::optional<std::string> Line(const kafka::Message& m) {
    if (m.topic == a.revocation_topic && with_revocations) return RevocationLine(m);
    return VerdictLine(m);
  }

  // Says on stderr that `m` could not be decoded; no line for it.
  static std::optional<std::string> Undecodable(const kafka::Message& m, const Error& e) {
    std::cerr << "attestctl: " << m.topic << "[" << m.partition << "]@" << m.offset << ": "
              << TerminalSafe(e.message) << "\n";
    return std::nullopt;
  }

  std::optional<std::string> RevocationLine(const kafka::Message& m) {
    auto rev = DecodeRevocation(m.value, HeaderValue(m, "content-type"));
    if (!rev) return Undecodable(m, rev.error());
    if (!filter.MatchesRevocation(rev->event)) return std::nullopt;
    SignatureCheck check = SignatureCheck::kUnchecked;
    if (revocation_key) {
      check = worker::VerifyRevocation(rev->signed_event, revocation_key)
                  ? SignatureCheck::kValid
                  : SignatureCheck::kInvalid;
      if (check == SignatureCheck::kInvalid) invalid_signature = true;
    }
    return a.json ? RevocationJson(*rev, check) : RevocationText(*rev, check, m.timestamp_ms);
  }

  std::optional<std::string> VerdictLine(const kafka::Message& m) {
    auto v = DecodeVerdict(m.value, HeaderValue(m, "content-type"));
    if (!v) return Undecodable(m, v.error());
    if (!filter.MatchesVerdict(*v)) return std::nullopt;
    SignatureCheck check = SignatureCheck::kUnchecked;
    if (verdict_key) {
      check = CheckVerdict(m, verdict_key);
      if (check == SignatureCheck::kInvalid) invalid_signature = true;
    }
    return a.json ? VerdictJson(*v, check) : VerdictText(*v, m.timestamp_ms, check);
  }
};

// With "new records only", kOffsetEnd is resolved when a partition's first
// fetch starts: Tail announces once every partition has answered a fetch (its
// watermarks are cached), so nothing published after the announcement is
// skipped. Records polled before it are shown all the same.
void Announce(const TailArgs& a, const kafka::ConsumerConfig& cc, size_t partitions) {
  std::cerr << "attestctl: tailing " << cc.topics.front()
            << (cc.topics.size() > 1 ? " and " + cc.topics.back() : "") << " (" << partitions
            << " partitions, " << (a.from_beginning ? "from the beginning" : "new records only")
            << ")" << std::endl;
}

// The --agent and --result filters; CommandError on an agent that is not a
// UUID.
TailFilter FilterFor(const TailArgs& a) {
  for (const auto& agent : a.agents) {
    if (!IsUuid(agent)) throw CommandError{kExitUsage, "--agent " + agent + ": not a UUID"};
  }
  TailFilter filter;
  for (const auto& agent : a.agents) filter.agents.insert(ParseUuid(agent).value());
  for (const auto& r : a.results) filter.results.insert(r);
  return filter;
}

// --bootstrap, else $KAFKA_BOOTSTRAP_SERVERS, else the local default.
std::string BootstrapServers(const TailArgs& a) {
  std::string bootstrap = a.bootstrap;
  if (bootstrap.empty()) {
    const char* env = std::getenv("KAFKA_BOOTSTRAP_SERVERS");
    bootstrap = env && *env ? env : "127.0.0.1:9092";
  }
  return bootstrap;
}

int Tail(const TailArgs& a) {
  std::optional<worker::PkeyPtr> key, verdict_key;
  if (!a.revocation_key.empty()) key = LoadKeyFlag("--revocation-key", a.revocation_key);
  if (!a.verdict_key.empty()) verdict_key = LoadKeyFlag("--verdict-key", a.verdict_key);
  const TailFilter filter = FilterFor(a);

  const std::string bootstrap = BootstrapServers(a);
  const bool with_revocations = a.revocations || a.only_revocations || key.has_value();

  // Quiet unless asked: librdkafka retries an unreachable broker on its own
  // and we report it ourselves after --connect-timeout.
  spdlog::set_level(a.verbose ? spdlog::level::info : spdlog::level::err);
  kafka::ConsumerConfig cc = TailConsumerConfig(a, bootstrap, with_revocations);
  StartAt start(a.from_beginning ? kafka::kOffsetBeginning : kafka::kOffsetEnd);
  auto consumer = kafka::Consumer::Create(cc, &start);
  if (!consumer) throw CommandError{kExitUsage, consumer.error().message};

  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);

  const auto started = Clock::now();
  std::optional<Clock::time_point> last_match;  // idle clock: from assignment on
  uint64_t matched = 0;
  bool announced = false;
  RecordLines records{a, filter, with_revocations, key ? key->get() : nullptr,
                      verdict_key ? verdict_key->get() : nullptr};
  int rc = kExitPass;
  while (!g_stop) {
    auto batch = (*consumer)->Poll(std::chrono::milliseconds(200));
    if (!batch) {
      std::cerr << "attestctl: kafka at " << bootstrap << ": " << batch.error().message << "\n";
      rc = kExitKafka;
      break;
    }
    const auto now = Clock::now();
    if (!(*consumer)->HasBeenAssigned()) {
      if (now - started > Seconds(a.connect_timeout_s)) {
        std::cerr << "attestctl: no answer from Kafka at " << bootstrap << " within "
                  << a.connect_timeout_s << " s (broker unreachable?)\n";
        rc = kExitKafka;
        break;
      }
      continue;
    }
    if (!last_match) last_match = now;
    if (!announced && (a.from_beginning || (*consumer)->AllPartitionsFetched() ||
                       now - started > Seconds(a.connect_timeout_s))) {
      announced = true;
      Announce(a, cc, start.partitions());
    }
    for (const auto& m : *batch) {
      std::optional<std::string> line = records.Line(m);
      if (!line) continue;
      // Records on the topic are not trusted to be terminal-safe.
      std::cout << TerminalSafe(*line) << std::endl;
      last_match = now;
      if (a.count > 0 && ++matched >= a.count) break;
    }
    if (a.count > 0 && matched >= a.count) break;
    if (a.timeout_s > 0 && now - *last_match > Seconds(a.timeout_s)) {
      if (a.count > 0) {
        std::cerr << "attestctl: " << matched << " of " << a.count << " records within the "
                  << a.timeout_s << " s timeout\n";
        rc = kExitCountNotReached;
      }
      break;
    }
  }
  if (auto closed = (*consumer)->Close(); !closed && a.verbose) {
    std::cerr << "attestctl: " << closed.error().message << "\n";
  }
  if (rc == kExitPass && records.invalid_signature) rc = kExitFail;
  return rc;
}

struct VerifyArgs {
  std::string key;
  std::string signature;  // base64, the attest-sig header
  std::string algorithm;  // the attest-sig-alg header; default: the key's
  std::string key_id;     // the attest-key-id header
  std::string content_type;
  std::string input;
  bool json = false;
};

// One verdict record value (as kcat -f '%s' writes it) and its headers.
int VerifyOne(const VerifyArgs& a) {
  worker::PkeyPtr key = LoadKeyFlag("--key", a.key);
  std::string value;
  try {
    value = a.input == "-" ? std::string(std::istreambuf_iterator<char>(std::cin), {})
                           : ReadFileLimited(a.input);
  } catch (const std::exception& e) {
    throw CommandError{kExitUsage, a.input + ": " + e.what()};
  }
  auto sig = worker::Base64Decode(a.signature);
  if (!sig) throw CommandError{kExitUsage, "--signature: " + sig.error().message};
  std::string alg = a.algorithm;
  if (alg.empty()) alg = EVP_PKEY_is_a(key.get(), "ED25519") ? "ed25519" : "ecdsa-p256-sha256";
  worker::SignedVerdictRecord r{value, a.content_type, alg, a.key_id, *sig};
  auto v = worker::VerifyVerdict(r, key.get());
  if (a.json) {
    nlohmann::json out;
    out["valid"] = v.ok();
    if (!v) out["error"] = v.error().message;
    out["key_id"] = a.key_id;
    if (v) out["verdict"] = nlohmann::json::parse(VerdictJson(*v), nullptr, false);
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else if (v) {
    std::cout << TerminalSafe(VerdictText(*v, -1)) << "\nsignature: valid (key "
              << TerminalSafe(a.key_id) << ")\n";
  } else {
    std::cout << "signature: INVALID: " << TerminalSafe(v.error().message) << "\n";
  }
  return v ? kExitPass : kExitFail;
}

const CommandRegistration kRegistration([](CLI::App& root) {
  CLI::App& group = Group(root, "verdicts", "Consume the verdict and revocation topics");
  auto a = std::make_shared<TailArgs>();
  CLI::App* cmd = group.add_subcommand("tail", "Print verdicts (and revocations) as they arrive");
  cmd->add_option("--bootstrap,--bootstrap-servers", a->bootstrap,
                  "Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)");
  cmd->add_option("--kafka-property", a->properties,
                  "librdkafka client property name=value, e.g. security.protocol=SASL_SSL "
                  "(repeatable)");
  cmd->add_flag("--from-beginning", a->from_beginning,
                "start at the oldest retained record (default: only new records)");
  cmd->add_option("--agent", a->agents, "only this agent (UUID; repeatable)");
  cmd->add_option("--result", a->results, "only verdicts with this result (repeatable)")
      ->check(CLI::IsMember({"pass", "fail", "offline", "resumed", "rejected", "log_requested"}));
  cmd->add_option("--count", a->count, "stop after N matching records")->check(CLI::PositiveNumber);
  cmd->add_option("--timeout", a->timeout_s,
                  "stop after SECONDS without a matching record (exit 4 if --count is not "
                  "reached)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--connect-timeout", a->connect_timeout_s,
                  "fail (exit 3) when Kafka has not answered within SECONDS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "one JSON object per line (Protobuf JSON mapping)");
  cmd->add_flag("--revocations", a->revocations, "also consume the revocation topic");
  cmd->add_flag("--only-revocations", a->only_revocations,
                "consume the revocation topic only (no verdicts)");
  cmd->add_option("--revocation-key", a->revocation_key,
                  "published revocation public key (PEM): verify each revocation's signature "
                  "(implies --revocations)");
  cmd->add_option("--verdict-key", a->verdict_key,
                  "published verdict signing key (PEM, the revocation key): verify each "
                  "verdict's signature headers; unsigned counts as invalid");
  cmd->add_option("--verdict-topic", a->verdict_topic)->capture_default_str();
  cmd->add_option("--revocation-topic", a->revocation_topic)->capture_default_str();
  cmd->add_option("--group", a->group, "consumer group id (default: unique per run)");
  cmd->add_flag("-v,--verbose", a->verbose, "log Kafka client messages to stderr");
  cmd->callback([a] { SetExitCode(Tail(*a)); });

  auto v = std::make_shared<VerifyArgs>();
  CLI::App* ver = group.add_subcommand("verify", "Verify one signed verdict record value");
  ver->add_option("--key", v->key, "published public key (PEM)")->required();
  ver->add_option("--signature", v->signature, "the attest-sig header (base64)")->required();
  ver->add_option("--key-id", v->key_id, "the attest-key-id header")->required();
  ver->add_option("--algorithm", v->algorithm, "the attest-sig-alg header (default: the key's)");
  ver->add_option("--content-type", v->content_type,
                  "the content-type header (default: JSON when the value starts with '{')");
  ver->add_flag("--json", v->json, "JSON output");
  ver->add_option("input", v->input, "the record value (file, or - for stdin)")->required();
  ver->callback([v] { SetExitCode(VerifyOne(*v)); });
});

}  // namespace
}  // namespace attest::ctl
