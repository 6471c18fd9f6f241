// attestctl kafka topics create|check: the pipeline's topics with the
// configurations of common/kafka/topics.h (docs/kafka.md).
//
//   attestctl kafka topics create --bootstrap-servers B [--partitions N]
//       [--replication-factor R] [--message-max-bytes BYTES]
//       [--evidence-topic T] [--verdict-topic T] [--revocation-topic T]
//       [--kafka-property k=v]... [--timeout SECONDS] [--json]
//   attestctl kafka topics check (same flags)
//
// create makes the missing topics and checks every topic; an existing topic
// that meets the table is left alone, one that does not is reported (Kafka
// cannot lower partitions or change replicas in place: that is the
// operator's decision). check only describes and checks. One line per topic
// ("<topic> <role>: created|ok|MISSING|MISMATCH ..."), or with --json one
// JSON object per topic and line.
//
// Exit codes: 0 every topic exists and matches (warnings allowed: what the
// cluster cannot report, e.g. the dev broker's configs); 1 a topic is missing
// (check) or does not match, or creating one failed; 2 usage error; 3 Kafka
// did not answer within --timeout or refused the request.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "attestctl/command_registry.h"
#include "common/base/escape.h"
#include "common/kafka/errors.h"
#include "common/kafka/topics.h"

namespace attest::ctl {
namespace {

constexpr int kExitKafka = 3;

struct TopicsArgs {
  std::string bootstrap;
  std::vector<std::string> properties;  // k=v
  int32_t partitions = kafka::kDefaultEvidencePartitions;
  int32_t replication_factor = 0;  // 0: min(3, brokers)
  int64_t message_max_bytes = kafka::kDefaultEvidenceMessageMaxBytes;
  std::string evidence_topic{kafka::kEvidenceTopic};
  std::string verdict_topic{kafka::kVerdictTopic};
  std::string revocation_topic{kafka::kRevocationTopic};
  double timeout_s = 30;
  bool json = false;
  bool verbose = false;
};

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds Left(Clock::time_point deadline) {
  return std::max(std::chrono::milliseconds(1),
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
}

// Describes the topics, retrying while the cluster does not answer, until
// `deadline`. Throws CommandError{kExitKafka} when it never does.
kafka::ClusterView DescribeUntil(kafka::TopicAdmin& admin, const std::vector<std::string>& names,
                                 const std::string& bootstrap, Clock::time_point deadline) {
  for (;;) {
    auto view =
        admin.Describe(names, true, std::min(Left(deadline), std::chrono::milliseconds(10'000)));
    if (view) return std::move(view).value();
    const auto code = view.error().code;
    const bool transient = code == kafka::errc::unavailable || code == kafka::errc::timed_out;
    if (!transient || Clock::now() >= deadline) {
      throw CommandError{kExitKafka, "kafka at " + bootstrap + ": " + view.error().message};
    }
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::milliseconds(500), deadline - Clock::now()));
  }
}

enum class Status { kOk, kCreated, kMissing, kMismatch, kCreateFailed };

std::string_view StatusName(Status s) {
  switch (s) {
    case Status::kOk:
      return "ok";
    case Status::kCreated:
      return "created";
    case Status::kMissing:
      return "missing";
    case Status::kMismatch:
      return "mismatch";
    case Status::kCreateFailed:
      return "create_failed";
  }
  return "?";
}

std::string ConfigOr(const kafka::TopicDescription& d, const std::string& key) {
  auto it = d.configs.find(key);
  return it == d.configs.end() ? "?" : it->second;
}

void Print(const kafka::NewTopicSpec& spec, const kafka::TopicDescription& seen, Status status,
           const std::vector<kafka::TopicMismatch>& mismatches, const std::string& create_error,
           bool json) {
  static const char* kShown[] = {"min.insync.replicas", "max.message.bytes",
                                 "retention.ms",        "cleanup.policy",
                                 "compression.type",    "unclean.leader.election.enable"};
  if (json) {
    nlohmann::json o;
    o["topic"] = seen.name;
    o["role"] = std::string(kafka::RoleName(spec.need.role));
    o["status"] = std::string(StatusName(status));
    o["exists"] = seen.exists;
    if (seen.exists) {
      o["partitions"] = seen.partitions;
      o["replication_factor"] = seen.replication_factor;
      if (seen.configs_state == kafka::TopicDescription::Configs::kKnown) {
        nlohmann::json c = nlohmann::json::object();
        for (const char* k : kShown) c[k] = ConfigOr(seen, k);
        o["configs"] = c;
      }
    }
    nlohmann::json errors = nlohmann::json::array(), warnings = nlohmann::json::array();
    for (const auto& m : mismatches) {
      nlohmann::json j = {{"kind", std::string(kafka::MismatchKindName(m.kind))},
                          {"what", m.what},
                          {"seen", m.seen},
                          {"need", m.need},
                          {"message", kafka::DescribeMismatch(m)}};
      (m.warning ? warnings : errors).push_back(std::move(j));
    }
    if (!create_error.empty()) o["create_error"] = create_error;
    o["mismatches"] = errors;
    o["warnings"] = warnings;
    std::cout << o.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    return;
  }
  std::string line = seen.name + " " + std::string(kafka::RoleName(spec.need.role)) + ": ";
  switch (status) {
    case Status::kOk:
    case Status::kCreated:
      line += std::string(StatusName(status)) + " (" + std::to_string(seen.partitions) +
              " partitions, replication factor " + std::to_string(seen.replication_factor);
      if (seen.configs_state == kafka::TopicDescription::Configs::kKnown) {
        for (const char* k : kShown) line += std::string(", ") + k + "=" + ConfigOr(seen, k);
      }
      line += ")";
      break;
    case Status::kMissing:
      line += "MISSING";
      break;
    case Status::kCreateFailed:
      line += "CREATE FAILED: " + create_error;
      break;
    case Status::kMismatch:
      line += "MISMATCH:";
      break;
  }
  bool first = true;
  for (const auto& m : mismatches) {
    if (m.warning || m.kind == kafka::MismatchKind::kMissing) continue;
    line += (first ? " " : "; ") + kafka::DescribeMismatch(m);
    first = false;
  }
  for (const auto& m : mismatches) {
    if (m.warning) line += " [warning: " + kafka::DescribeMismatch(m) + "]";
  }
  // Topic names and broker messages are not trusted to be terminal-safe.
  std::cout << TerminalSafe(line) << std::endl;
}

// The admin client's configuration: --bootstrap and --kafka-property.
kafka::AdminConfig AdminConfigFor(const TopicsArgs& a, const std::string& bootstrap) {
  kafka::AdminConfig ac;
  ac.bootstrap_servers = bootstrap;
  ac.client_id = "attestctl-kafka";
  for (const auto& p : a.properties) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw CommandError{kExitUsage, "--kafka-property " + p + ": expected name=value"};
    }
    ac.extra[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return ac;
}

// The pipeline's topics as the flags name and size them; CommandError when
// two names are the same.
kafka::PipelineTopicOptions TopicOptionsFor(const TopicsArgs& a) {
  kafka::PipelineTopicOptions o;
  o.evidence = a.evidence_topic;
  o.verdicts = a.verdict_topic;
  o.revocations = a.revocation_topic;
  o.evidence_partitions = a.partitions;
  o.replication_factor = a.replication_factor;
  o.evidence_message_max_bytes = a.message_max_bytes;
  if (o.evidence == o.verdicts || o.evidence == o.revocations || o.verdicts == o.revocations) {
    throw CommandError{kExitUsage, "the three topic names must differ"};
  }
  return o;
}

// `kafka topics create`: creates the missing topics and waits until they are
// usable, recording each one's Status (and error) by index of `specs`.
struct Creator {
  kafka::TopicAdmin& admin;
  const std::vector<kafka::NewTopicSpec>& specs;
  const std::vector<std::string>& names;
  const std::string& bootstrap;
  Clock::time_point deadline;
  std::vector<Status>& status;
  std::vector<std::string>& create_error;

  // `view` is the cluster before; after, it describes the created topics.
  void CreateMissing(kafka::ClusterView& view) {
    std::vector<kafka::NewTopicSpec> missing;
    for (size_t i = 0; i < specs.size(); ++i) {
      if (!view.topics[i].exists) missing.push_back(specs[i]);
    }
    if (missing.empty()) return;
    auto outcomes = admin.CreateTopics(missing, Left(deadline));
    if (!outcomes)
      throw CommandError{kExitKafka, "kafka at " + bootstrap + ": " + outcomes.error().message};
    for (const auto& out : *outcomes) {
      for (size_t i = 0; i < specs.size(); ++i) {
        if (specs[i].name != out.name) continue;
        if (out.status == kafka::CreateOutcome::Status::kCreated) status[i] = Status::kCreated;
        if (out.status == kafka::CreateOutcome::Status::kFailed) {
          status[i] = Status::kCreateFailed;
          create_error[i] = out.error;
        }
      }
    }
    WaitUntilUsable(view);
  }

  // Usable once every partition has a leader; new topics take a moment.
  void WaitUntilUsable(kafka::ClusterView& view) {
    for (;;) {
      view = DescribeUntil(admin, names, bootstrap, deadline);
      // A broker that has not yet seen a new topic answers DescribeConfigs
      // with UNKNOWN_TOPIC_OR_PART (seen on a fresh three-node cluster):
      // wait for readable configs too, and report them unreadable only
      // if they still are at the deadline.
      bool led = true;
      bool readable = true;
      for (size_t i = 0; i < specs.size(); ++i) {
        if (status[i] != Status::kCreated) continue;
        const auto& t = view.topics[i];
        led = led && t.exists && t.partitions > 0 && t.partitions_without_leader == 0;
        readable = readable && t.configs_state != kafka::TopicDescription::Configs::kUnreadable;
      }
      if (led && (readable || Clock::now() >= deadline)) break;
      if (Clock::now() >= deadline) {
        throw CommandError{kExitKafka, "kafka at " + bootstrap +
                                           ": created topics have no leader within --timeout"};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
};

int Run(const TopicsArgs& a, bool create) {
  std::string bootstrap = a.bootstrap;
  if (bootstrap.empty()) {
    const char* env = std::getenv("KAFKA_BOOTSTRAP_SERVERS");
    bootstrap = env && *env ? env : "127.0.0.1:9092";
  }
  spdlog::set_level(a.verbose ? spdlog::level::debug : spdlog::level::err);
  const kafka::AdminConfig ac = AdminConfigFor(a, bootstrap);
  auto admin = kafka::TopicAdmin::Create(ac);
  if (!admin) throw CommandError{kExitUsage, admin.error().message};

  const kafka::PipelineTopicOptions o = TopicOptionsFor(a);
  const std::vector<std::string> names = {o.evidence, o.verdicts, o.revocations};
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(a.timeout_s));
  kafka::ClusterView view = DescribeUntil(**admin, names, bootstrap, deadline);
  if (view.brokers < 1) throw CommandError{kExitKafka, "kafka at " + bootstrap + ": no brokers"};
  if (a.replication_factor > view.brokers) {
    throw CommandError{kExitUsage, "--replication-factor " + std::to_string(a.replication_factor) +
                                       ": the cluster has " + std::to_string(view.brokers) +
                                       " broker(s)"};
  }
  const auto specs = kafka::PipelineTopics(o, view.brokers);

  std::vector<Status> status(specs.size(), Status::kOk);
  std::vector<std::string> create_error(specs.size());
  if (create) {
    Creator creator{**admin, specs, names, bootstrap, deadline, status, create_error};
    creator.CreateMissing(view);
  }

  bool all_ok = true;
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto mismatches = kafka::CheckTopic(view.topics[i], specs[i].need);
    if (status[i] != Status::kCreateFailed) {
      if (!view.topics[i].exists) {
        status[i] = Status::kMissing;
      } else if (!kafka::Meets(mismatches)) {
        status[i] = Status::kMismatch;
      }
    }
    if (status[i] != Status::kOk && status[i] != Status::kCreated) all_ok = false;
    Print(specs[i], view.topics[i], status[i], mismatches, create_error[i], a.json);
  }
  return all_ok ? kExitPass : kExitFail;
}

void AddFlags(CLI::App* cmd, TopicsArgs& a) {
  cmd->add_option("--bootstrap-servers,--bootstrap", a.bootstrap,
                  "Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)");
  cmd->add_option("--kafka-property", a.properties,
                  "librdkafka client property name=value, e.g. security.protocol=ssl (repeatable)");
  cmd->add_option("--partitions", a.partitions,
                  "evidence partitions: created with, and needed at least (verdicts and "
                  "revocations are created with as many)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--replication-factor", a.replication_factor,
                  "replicas of each topic (default: min(3, brokers)); min.insync.replicas is "
                  "min(2, this). The services ask for min(3, brokers) whatever this is")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--message-max-bytes", a.message_max_bytes,
                  "the gateway's kafka.message_max_bytes: the evidence topic's max.message.bytes "
                  "is this + 1 KiB")
      ->check(CLI::Range(int64_t{64 * 1024}, int64_t{1'000'000'000}))
      ->capture_default_str();
  cmd->add_option("--evidence-topic", a.evidence_topic)->capture_default_str();
  cmd->add_option("--verdict-topic", a.verdict_topic)->capture_default_str();
  cmd->add_option("--revocation-topic", a.revocation_topic)->capture_default_str();
  cmd->add_option("--timeout", a.timeout_s,
                  "give up (exit 3) when Kafka has not answered within SECONDS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--json", a.json, "one JSON object per topic and line");
  cmd->add_flag("-v,--verbose", a.verbose, "log Kafka client messages to stderr");
}

constexpr const char* kExitCodes =
    "Exit codes: 0 every topic exists and matches (warnings allowed); 1 a topic is missing "
    "(check), does not match, or could not be created; 2 usage error; 3 Kafka did not answer "
    "within --timeout or refused the request.";

const CommandRegistration kRegistration([](CLI::App& root) {
  CLI::App& kafka_group = Group(root, "kafka", "The pipeline's Kafka topics");
  CLI::App& topics = Group(kafka_group, "topics",
                           "Create or check the evidence, verdict and revocation topics "
                           "(docs/kafka.md)");
  auto c = std::make_shared<TopicsArgs>();
  CLI::App* create = topics.add_subcommand(
      "create",
      "Create the missing topics with their configurations; check the existing ones "
      "(idempotent)");
  AddFlags(create, *c);
  create->footer(kExitCodes);
  create->callback([c] { SetExitCode(Run(*c, true)); });

  auto k = std::make_shared<TopicsArgs>();
  CLI::App* check = topics.add_subcommand(
      "check", "Check that each topic exists and matches what the pipeline needs");
  AddFlags(check, *k);
  check->footer(kExitCodes);
  check->callback([k] { SetExitCode(Run(*k, false)); });
});

}  // namespace
}  // namespace attest::ctl
