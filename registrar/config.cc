#include "registrar/config.h"

#include <cstdlib>

#include "common/base/listen_address.h"

namespace attest::registrar {

namespace {

// [kafka]: where the registrar reads the evidence topic's partition count.
Result<void> ParseKafka(const ConfigFile& f, RegistrarConfig& c) {
  int64_t v = 0;
  ATTEST_ASSIGN_OR_RETURN(c.kafka_bootstrap, f.String("kafka.bootstrap_servers", ""));
  if (c.kafka_bootstrap.empty()) {
    return f.Invalid("kafka.bootstrap_servers",
                     "required: the registrar reads the evidence topic's partition count from "
                     "Kafka (kafka.evidence_partitions is only a cross-check now)");
  }
  ATTEST_ASSIGN_OR_RETURN(c.kafka_evidence_topic,
                          f.String("kafka.evidence_topic", c.kafka_evidence_topic));
  if (c.kafka_evidence_topic.empty()) return f.Invalid("kafka.evidence_topic", "is empty");
  std::vector<std::string> props;
  ATTEST_ASSIGN_OR_RETURN(props, f.StringList("kafka.properties", std::vector<std::string>{}));
  for (const auto& p : props) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return f.Invalid("kafka.properties", "entry '" + p + "' is not name=value");
    }
    c.kafka_properties[p.substr(0, eq)] = p.substr(eq + 1);
  }
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("kafka.startup_timeout_ms", 60'000, 100, 3'600'000));
  c.kafka_startup_timeout = std::chrono::milliseconds(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("kafka.evidence_partitions", 0, 0, 100000));
  c.expected_evidence_partitions = static_cast<int32_t>(v);
  return Ok();
}

}  // namespace

Result<RegistrarConfig> ParseRegistrarConfig(const ConfigFile& f, const std::string& env_conninfo) {
  RegistrarConfig c;
  int64_t v = 0;
  ATTEST_ASSIGN_OR_RETURN(c.listen_address, f.String("server.listen", c.listen_address));
  auto host = ParseListenHost(c.listen_address);  // the host alone: the port is server.port
  if (!host) return f.Invalid("server.listen", host.error().message);
  c.listen_address = *host;
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("server.port", c.port, 0, 65535));
  c.port = static_cast<uint16_t>(v);
  ATTEST_ASSIGN_OR_RETURN(c.tls_cert, f.String("server.cert"));
  ATTEST_ASSIGN_OR_RETURN(c.tls_key, f.String("server.key"));
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("server.io_threads", c.io_threads, 1, 64));
  c.io_threads = static_cast<int>(v);
  ATTEST_ASSIGN_OR_RETURN(
      v, f.Int("server.max_body_bytes", static_cast<int64_t>(c.max_body_bytes), 1024, 64 << 20));
  c.max_body_bytes = static_cast<size_t>(v);

  ATTEST_ASSIGN_OR_RETURN(c.db_conninfo, f.String("database.conninfo", env_conninfo));
  if (c.db_conninfo.empty()) {
    return f.Invalid("database.conninfo", "required (or set $ATTEST_DATABASE)");
  }
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("database.pool_size", c.db_pool_size, 1, 256));
  c.db_pool_size = static_cast<int>(v);
  ATTEST_ASSIGN_OR_RETURN(
      v, f.Int("database.queue_limit", static_cast<int64_t>(c.db_queue_limit), 1, 1 << 20));
  c.db_queue_limit = static_cast<size_t>(v);

  ATTEST_ASSIGN_OR_RETURN(c.ek_trust_store, f.String("ek.trust_store", ""));
  ATTEST_ASSIGN_OR_RETURN(c.require_ek_cert, f.Bool("ek.require_cert", true));
  if (c.require_ek_cert && c.ek_trust_store.empty()) {
    return f.Invalid("ek.trust_store",
                     "required while ek.require_cert is true (set require_cert = false to accept "
                     "TPMs without EK certificates)");
  }

  ATTEST_ASSIGN_OR_RETURN(c.admin_token_file, f.String("admin.token_file", ""));
  ATTEST_ASSIGN_OR_RETURN(c.admin_client_ca, f.String("admin.client_ca", ""));
  if (c.admin_token_file.empty() && c.admin_client_ca.empty()) {
    return f.Invalid("admin",
                     "set admin.token_file and/or admin.client_ca (the admin API "
                     "must be authenticated)");
  }

  ATTEST_ASSIGN_OR_RETURN(c.bulk_enrolment, f.Bool("admin.bulk_enrolment", false));

  ATTEST_RETURN_IF_ERROR(ParseKafka(f, c));

  ATTEST_ASSIGN_OR_RETURN(
      v, f.Int("registration.pending_ttl_seconds", c.pending_ttl.count(), 1, 7 * 86400));
  c.pending_ttl = std::chrono::seconds(v);
  ATTEST_ASSIGN_OR_RETURN(
      v, f.Int("registration.cleanup_interval_seconds", c.cleanup_interval.count(), 1, 86400));
  c.cleanup_interval = std::chrono::seconds(v);

  ATTEST_ASSIGN_OR_RETURN(c.log_format, f.String("log.format", c.log_format));
  if (c.log_format != "human" && c.log_format != "json") {
    return f.Invalid("log.format", "must be human or json");
  }
  ATTEST_ASSIGN_OR_RETURN(c.log_level, f.String("log.level", c.log_level));
  if (auto r = f.RejectUnknownKeys(); !r) return r.error();
  return c;
}

Result<RegistrarConfig> LoadRegistrarConfig(const std::string& path) {
  auto f = ConfigFile::Load(path);
  if (!f) return f.error();
  const char* env = std::getenv("ATTEST_DATABASE");
  return ParseRegistrarConfig(*f, env ? env : "");
}

}  // namespace attest::registrar
