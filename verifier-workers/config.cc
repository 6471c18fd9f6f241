#include "verifier-workers/config.h"

#include <unistd.h>

#include "common/base/listen_address.h"
#include "verifier-workers/errors.h"

namespace attest::worker {
namespace {

Error Invalid(const ConfigFile& f, std::string_view key, std::string_view what) {
  Error e = f.Invalid(key, what);
  e.code = make_error_code(errc::invalid_config);
  return e;
}

Error Recode(Error e) {
  e.code = make_error_code(errc::invalid_config);
  return e;
}

std::string DefaultWorkerId() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "worker";
  return std::string(buf) + "-" + std::to_string(getpid());
}

#define CFG_GET(lhs, expr)                      \
  do {                                          \
    auto cfg_r_ = (expr);                       \
    if (!cfg_r_) return Recode(cfg_r_.error()); \
    lhs = std::move(cfg_r_).value();            \
  } while (0)

// worker_id and [kafka].
Result<void> ParseIdAndKafka(const ConfigFile& f, WorkerConfig& c) {
  CFG_GET(c.worker_id, f.String("worker_id", DefaultWorkerId()));
  if (c.worker_id.empty() || c.worker_id.size() > 200) {
    return Invalid(f, "worker_id", "must be 1..200 characters");
  }

  CFG_GET(c.kafka_bootstrap, f.String("kafka.bootstrap_servers"));
  CFG_GET(c.group_id, f.String("kafka.group_id", c.group_id));
  CFG_GET(c.evidence_topic, f.String("kafka.evidence_topic", c.evidence_topic));
  CFG_GET(c.verdict_topic, f.String("kafka.verdict_topic", c.verdict_topic));
  CFG_GET(c.revocation_topic, f.String("kafka.revocation_topic", c.revocation_topic));
  int64_t ms = 0;
  CFG_GET(ms, f.Int("kafka.session_timeout_ms", 10'000, 1'000, 3'600'000));
  c.session_timeout = std::chrono::milliseconds(ms);
  CFG_GET(ms, f.Int("kafka.startup_timeout_ms", 60'000, 100, 3'600'000));
  c.kafka_startup_timeout = std::chrono::milliseconds(ms);
  std::vector<std::string> props;
  CFG_GET(props, f.StringList("kafka.properties", std::vector<std::string>{}));
  for (const auto& p : props) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Invalid(f, "kafka.properties", "expected \"name=value\", got \"" + p + "\"");
    }
    c.kafka_properties[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return Ok();
}

// [database], [batch], [verification].
Result<void> ParseProcessing(const ConfigFile& f, WorkerConfig& c) {
  int64_t v = 0;
  CFG_GET(c.database_conninfo, f.String("database.conninfo"));
  // One connection for the outbox relay, the rest for batches: 2 batch
  // connections pipeline them (N+1 verified while N commits); more are not
  // used (a partition's batches are strictly ordered).
  CFG_GET(v, f.Int("database.pool_size", 3, 2, 64));
  c.database_pool_size = static_cast<int>(v);

  CFG_GET(v, f.Int("batch.max_count", 500, 1, 100'000));
  c.batch_max_count = static_cast<size_t>(v);
  CFG_GET(v, f.Int("batch.max_time_ms", 20, 0, 60'000));
  c.batch_max_time = std::chrono::milliseconds(v);
  CFG_GET(v, f.Int("verification.threads", 2, 1, 256));
  c.verification_threads = static_cast<int>(v);
  CFG_GET(v, f.Int("verification.policy_cache_size", 10'000, 1, 10'000'000));
  c.policy_cache_size = static_cast<size_t>(v);
  CFG_GET(v, f.Int("verification.uefi_log_max_rounds", c.uefi_log_max_rounds, 1, 100));
  c.uefi_log_max_rounds = static_cast<uint32_t>(v);
  return Ok();
}

// [token], [revocation], backend_id (after kafka.group_id, its default).
Result<void> ParseKeys(const ConfigFile& f, WorkerConfig& c) {
  int64_t v = 0;
  CFG_GET(c.token_key_files, f.StringList("token.key_files"));
  if (c.token_key_files.empty())
    return Invalid(f, "token.key_files", "needs at least one key file");
  CFG_GET(v, f.Int("token.ttl_seconds", 120, 1, 86'400));
  c.token_ttl = std::chrono::seconds(v);
  CFG_GET(v, f.Int("token.max_skew_seconds", 5, 0, 3'600));
  c.token_max_skew = std::chrono::seconds(v);

  CFG_GET(c.revocation_key_file, f.String("revocation.signing_key_file"));
  CFG_GET(c.revocation_key_id, f.String("revocation.key_id"));
  if (c.revocation_key_id.empty() || c.revocation_key_id.size() > 200) {
    return Invalid(f, "revocation.key_id", "must be 1..200 characters");
  }
  CFG_GET(c.sign_verdicts, f.Bool("revocation.sign_verdicts", true));
  CFG_GET(c.backend_id, f.String("backend_id", c.group_id));
  if (c.backend_id.empty() || c.backend_id.size() > 200) {
    return Invalid(f, "backend_id", "must be 1..200 characters");
  }
  return Ok();
}

// [output], [liveness], [shutdown], [challenge], [metrics], [log].
Result<void> ParseOutputAndOps(const ConfigFile& f, WorkerConfig& c) {
  int64_t v = 0;
  std::string enc;
  CFG_GET(enc, f.String("output.encoding", "protobuf"));
  if (enc == "protobuf") {
    c.encoding = Encoding::kProtobuf;
  } else if (enc == "json") {
    c.encoding = Encoding::kJson;
  } else {
    return Invalid(f, "output.encoding", "expected \"protobuf\" or \"json\"");
  }
  CFG_GET(v, f.Int("liveness.sweep_period_ms", 1'000, 50, 3'600'000));
  c.sweep_period = std::chrono::milliseconds(v);
  CFG_GET(v, f.Int("shutdown.batch_drain_timeout_ms", 5'000, 0, 3'600'000));
  c.batch_drain_timeout = std::chrono::milliseconds(v);
  CFG_GET(v, f.Int("shutdown.outbox_drain_timeout_ms", 10'000, 0, 3'600'000));
  c.outbox_drain_timeout = std::chrono::milliseconds(v);
  // The gateway's key, range and default (ingest-gateway/config.cc).
  CFG_GET(v, f.Int("challenge.boot_time_tolerance_seconds", kDefaultBootTimeTolerance.count(), 0,
                   3600));
  c.boot_time_tolerance = std::chrono::seconds(v);

  CFG_GET(c.metrics_address, f.String("metrics.listen", "127.0.0.1:9464"));
  if (!c.metrics_address.empty()) {  // "" = no listener
    auto listen = ParseListenAddress(c.metrics_address);
    if (!listen) return Invalid(f, "metrics.listen", listen.error().message);
    c.metrics_address = listen->ToString();
  }

  std::string level, format;
  CFG_GET(level, f.String("log.level", "info"));
  CFG_GET(format, f.String("log.format", "human"));
  auto fmt = ParseLogFormat(format);
  if (!fmt) return Invalid(f, "log.format", fmt.error().message);
  c.log.level = level;
  c.log.format = *fmt;
  c.log.component = "worker";
  return Ok();
}

}  // namespace

Result<WorkerConfig> LoadWorkerConfig(const std::string& path) {
  auto file = ConfigFile::Load(path);
  if (!file) return Recode(file.error());
  return ParseWorkerConfig(*file);
}

Result<WorkerConfig> ParseWorkerConfig(const ConfigFile& f) {
  WorkerConfig c;
  for (auto* parse : {ParseIdAndKafka, ParseProcessing, ParseKeys, ParseOutputAndOps}) {
    if (auto r = parse(f, c); !r) return r.error();
  }
  if (auto r = f.RejectUnknownKeys(); !r) return Recode(r.error());
  return c;
}

}  // namespace attest::worker
