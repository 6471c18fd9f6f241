#include "ingest-gateway/config.h"

#include <unistd.h>

#include <charconv>

#include "common/base/listen_address.h"
#include "common/evidence/evidence.h"
#include "ingest-gateway/errors.h"

namespace attest::gateway {
namespace {

Error Invalid(const ConfigFile& f, std::string_view key, std::string_view what) {
  Error e = f.Invalid(key, what);
  e.code = make_error_code(errc::invalid_config);
  return e;
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "gateway";
  return buf;
}

std::chrono::milliseconds Ms(int64_t v) { return std::chrono::milliseconds(v); }

}  // namespace

Result<v1::HashAlgorithm> ParseHashAlgorithm(std::string_view text) {
  if (text == "sha1") return v1::HASH_ALGORITHM_SHA1;
  if (text == "sha256") return v1::HASH_ALGORITHM_SHA256;
  if (text == "sha384") return v1::HASH_ALGORITHM_SHA384;
  if (text == "sha512") return v1::HASH_ALGORITHM_SHA512;
  if (text == "sm3_256") return v1::HASH_ALGORITHM_SM3_256;
  return MakeError(errc::invalid_config, "hash algorithm '" + std::string(text) +
                                             "': expected sha1, sha256, sha384, sha512 or sm3_256");
}

uint16_t TpmAlgOf(v1::HashAlgorithm alg) {
  switch (alg) {
    case v1::HASH_ALGORITHM_SHA256:
      return 0x000b;  // TPM2_ALG_SHA256
    case v1::HASH_ALGORITHM_SHA384:
      return 0x000c;
    case v1::HASH_ALGORITHM_SHA512:
      return 0x000d;
    default:
      return 0;
  }
}

uint32_t PcrMask(const std::vector<uint32_t>& pcrs) {
  uint32_t mask = 0;
  for (uint32_t p : pcrs) {
    if (p < 24) mask |= 1u << p;
  }
  return mask;
}

Result<std::vector<uint32_t>> ParsePcrList(std::string_view text) {
  std::vector<uint32_t> out;
  auto bad = [&](std::string_view why) {
    return MakeError(errc::invalid_config,
                     "PCR list '" + std::string(text) + "': " + std::string(why));
  };
  auto number = [](std::string_view s, uint32_t* v) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view item =
        text.substr(pos, comma == std::string_view::npos ? text.npos : comma - pos);
    uint32_t lo = 0, hi = 0;
    size_t dash = item.find('-');
    if (dash == std::string_view::npos) {
      if (!number(item, &lo)) return bad("expected numbers or ranges like 0-7,10");
      hi = lo;
    } else if (!number(item.substr(0, dash), &lo) || !number(item.substr(dash + 1), &hi) ||
               hi < lo) {
      return bad("expected numbers or ranges like 0-7,10");
    }
    if (hi > 23) return bad("PCR indexes are 0..23");
    for (uint32_t i = lo; i <= hi; ++i) {
      if (!out.empty() && out.back() >= i) return bad("indexes must be ascending and distinct");
      out.push_back(i);
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  if (out.empty()) return bad("empty");
  return out;
}

namespace {

// gateway_id and [server]: the listen address and TLS.
Result<void> ParseIdentityAndTls(const ConfigFile& f, GatewayConfig& c) {
  ATTEST_ASSIGN_OR_RETURN(c.gateway_id, f.String("gateway_id", HostName()));
  if (c.gateway_id.empty() || c.gateway_id.size() > 255) {
    return Invalid(f, "gateway_id", "must be 1..255 characters");
  }
  auto listen = ListenAddressKey(f, "server.listen", "0.0.0.0:8881");
  if (!listen) {
    Error e = listen.error();  // already names the file and the key
    e.code = make_error_code(errc::invalid_config);
    return e;
  }
  c.server.bind_address = listen->host;
  c.server.port = listen->port;
  ATTEST_ASSIGN_OR_RETURN(c.server.cert_file, f.String("server.cert_file"));
  ATTEST_ASSIGN_OR_RETURN(c.server.key_file, f.String("server.key_file"));
  ATTEST_ASSIGN_OR_RETURN(c.server.client_ca_file, f.String("server.client_ca_file", ""));
  std::string auth;
  ATTEST_ASSIGN_OR_RETURN(auth, f.String("server.client_auth", "off"));
  auto client_auth = http::ParseClientAuth(auth);
  if (!client_auth) return Invalid(f, "server.client_auth", "expected off, optional or required");
  c.server.client_auth = *client_auth;
  if (c.server.client_auth != http::ClientAuth::kOff && c.server.client_ca_file.empty()) {
    return Invalid(f, "server.client_ca_file", "required when client_auth is not \"off\"");
  }
  return Ok();
}

// [server]: threads, sizes and timeouts.
Result<void> ParseServerLimits(const ConfigFile& f, GatewayConfig& c) {
  int64_t v = 0;
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("server.io_threads", 2, 1, 256));
  c.server.io_threads = static_cast<int>(v);
  // The worker's evidence caps assume this range (common/evidence/evidence.h).
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("server.max_body_bytes", 2 << 20, 1,
                                   static_cast<int64_t>(evidence::kMaxBodyBytesCap)));
  if (v < static_cast<int64_t>(kMinBodyBytes)) {
    return Invalid(f, "server.max_body_bytes",
                   "is " + std::to_string(v) + ", must be at least " +
                       std::to_string(kMinBodyBytes) +
                       " (an agent's default UEFI log limit of 1 MiB + 64 KiB for the quote and "
                       "IMA entries): with less, agents leave their UEFI log out and the "
                       "verifier fails them (measured_boot.log_withheld)");
  }
  c.server.max_body_bytes = static_cast<size_t>(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("server.max_connections", 10000, 1, 1'000'000));
  c.server.max_connections = static_cast<size_t>(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("server.header_timeout_ms", 10'000, 100, 600'000));
  c.server.header_timeout = Ms(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("server.request_timeout_ms", 30'000, 100, 600'000));
  c.server.request_timeout = Ms(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("server.idle_timeout_ms", 60'000, 100, 3'600'000));
  c.server.idle_timeout = Ms(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("server.drain_timeout_ms", 15'000, 0, 600'000));
  c.drain_timeout = Ms(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("server.retry_after_seconds", 5, 1, 3600));
  c.retry_after = std::chrono::seconds(v);
  return Ok();
}

// [token] and [database].
Result<void> ParseTokenAndDatabase(const ConfigFile& f, GatewayConfig& c) {
  int64_t v = 0;
  ATTEST_ASSIGN_OR_RETURN(c.token_key_files, f.StringList("token.key_files"));
  if (c.token_key_files.empty()) {
    return Invalid(f, "token.key_files", "needs at least the current key file");
  }
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("token.ttl_seconds", 120, 1, 3600));
  c.token_ttl = Ms(v * 1000);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("token.max_skew_seconds", 5, 0, 300));
  c.token_max_skew = Ms(v * 1000);
  ATTEST_ASSIGN_OR_RETURN(c.database_conninfo, f.String("database.conninfo"));
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("database.pool_size", 4, 1, 256));
  c.database_pool_size = static_cast<int>(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("database.max_queue", 1000, 1, 1'000'000));
  c.database_max_queue = static_cast<size_t>(v);
  return Ok();
}

// [kafka]: the producer and the limits it must share with [server].
Result<void> ParseKafka(const ConfigFile& f, GatewayConfig& c) {
  int64_t v = 0;
  ATTEST_ASSIGN_OR_RETURN(c.kafka_bootstrap, f.String("kafka.bootstrap_servers"));
  if (c.kafka_bootstrap.empty()) return Invalid(f, "kafka.bootstrap_servers", "is empty");
  ATTEST_ASSIGN_OR_RETURN(c.kafka_topic, f.String("kafka.topic", "attestation.evidence"));
  if (c.kafka_topic.empty()) return Invalid(f, "kafka.topic", "is empty");
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("kafka.delivery_timeout_ms", 10'000, 100, 600'000));
  c.kafka_delivery_timeout = Ms(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("kafka.linger_ms", 1, 0, 1000));
  c.kafka_linger = Ms(v);
  ATTEST_ASSIGN_OR_RETURN(
      v, f.Int("kafka.message_max_bytes", 2162688, 64 * 1024, int64_t{1'000'000'000}));
  c.kafka_message_max_bytes = static_cast<size_t>(v);
  // Each size limit is set in one place: a body the gateway accepts must fit
  // one Kafka message, or that agent gets 503 for ever.
  if (c.server.max_body_bytes + kEnvelopeOverheadBytes > c.kafka_message_max_bytes) {
    return Invalid(f, "kafka.message_max_bytes",
                   "must be at least server.max_body_bytes (" +
                       std::to_string(c.server.max_body_bytes) + ") + " +
                       std::to_string(kEnvelopeOverheadBytes) +
                       " bytes of envelope, or large evidence could never be written; raise it "
                       "(and the topic's max.message.bytes) or lower server.max_body_bytes");
  }
  ATTEST_ASSIGN_OR_RETURN(c.kafka_compression, f.String("kafka.compression", "lz4"));
  if (c.kafka_compression != "none" && c.kafka_compression != "gzip" &&
      c.kafka_compression != "snappy" && c.kafka_compression != "lz4" &&
      c.kafka_compression != "zstd") {
    return Invalid(f, "kafka.compression", "expected none, gzip, snappy, lz4 or zstd");
  }
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("kafka.startup_timeout_ms", 60'000, 100, 3'600'000));
  c.kafka_startup_timeout = Ms(v);
  std::vector<std::string> props;
  ATTEST_ASSIGN_OR_RETURN(props, f.StringList("kafka.properties", std::vector<std::string>{}));
  for (const auto& p : props) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Invalid(f, "kafka.properties", "entry '" + p + "' is not name=value");
    }
    const std::string name = p.substr(0, eq);
    if (name == "message.max.bytes" || name == "compression.type" || name == "compression.codec") {
      return Invalid(f, "kafka.properties",
                     "'" + name + "' is set by kafka.message_max_bytes / kafka.compression");
    }
    c.kafka_properties[name] = p.substr(eq + 1);
  }
  return Ok();
}

// [challenge]: what the gateway asks agents to quote.
Result<void> ParseChallenge(const ConfigFile& f, GatewayConfig& c) {
  int64_t v = 0;
  double fraction = 0;
  ATTEST_ASSIGN_OR_RETURN(fraction, f.Double("challenge.min_interval_fraction", 0.8));
  if (!(fraction >= 0 && fraction <= 1)) {
    return Invalid(f, "challenge.min_interval_fraction", "must be in [0, 1]");
  }
  c.challenge.min_interval_fraction = fraction;
  std::string text;
  // A bank the verifier does not accept would turn every quote into a
  // REJECTED verdict (and, before tokens bound the selection, into FAIL and
  // revocations): refuse to start instead (issue 17).
  ATTEST_ASSIGN_OR_RETURN(text, f.String("challenge.pcr_bank", "sha256"));
  auto bank = ParseHashAlgorithm(text);
  if (!bank) return Invalid(f, "challenge.pcr_bank", bank.error().message);
  if (TpmAlgOf(*bank) == 0) {
    return Invalid(f, "challenge.pcr_bank",
                   "'" + text + "' is not a bank the verifier accepts (sha256, sha384 or sha512)");
  }
  c.challenge.pcr_bank = *bank;
  // A smaller set is allowed (the lab quotes PCR 10 only): the token binds
  // it, so an agent whose policies need more gets REJECTED
  // (challenge.insufficient_selection), never FAIL; Gateway::Create warns.
  ATTEST_ASSIGN_OR_RETURN(text, f.String("challenge.pcrs", "0-8,10"));
  auto pcrs = ParsePcrList(text);
  if (!pcrs) return Invalid(f, "challenge.pcrs", pcrs.error().message);
  c.challenge.pcrs = *pcrs;
  ATTEST_ASSIGN_OR_RETURN(text, f.String("challenge.quote_hash", "sha256"));
  auto qh = ParseHashAlgorithm(text);
  if (!qh) return Invalid(f, "challenge.quote_hash", qh.error().message);
  if (TpmAlgOf(*qh) == 0) {
    return Invalid(f, "challenge.quote_hash",
                   "'" + text + "' is not a hash the verifier accepts (sha256, sha384 or sha512)");
  }
  c.challenge.quote_hash = *qh;
  // The worker reads the same key, range and default (verifier-workers/config.cc).
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("challenge.boot_time_tolerance_seconds",
                                   kDefaultBootTimeTolerance.count(), 0, 3600));
  c.challenge.boot_time_tolerance = std::chrono::seconds(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("challenge.catch_up_interval_seconds", 2, 1, 3600));
  c.challenge.catch_up_interval = std::chrono::seconds(v);
  return Ok();
}

// [log].
Result<void> ParseLog(const ConfigFile& f, GatewayConfig& c) {
  std::string text;
  ATTEST_ASSIGN_OR_RETURN(c.log.level, f.String("log.level", "info"));
  ATTEST_ASSIGN_OR_RETURN(text, f.String("log.format", "human"));
  auto format = ParseLogFormat(text);
  if (!format) return Invalid(f, "log.format", "expected human or json");
  c.log.format = *format;
  c.log.component = "gateway";
  return Ok();
}

}  // namespace

Result<GatewayConfig> LoadGatewayConfig(const std::string& path) {
  auto file = ConfigFile::Load(path);
  if (!file) {
    Error e = file.error();
    e.code = make_error_code(errc::invalid_config);
    return e;
  }
  return ParseGatewayConfig(*file);
}

Result<GatewayConfig> ParseGatewayConfig(const ConfigFile& f) {
  GatewayConfig c;
  c.server.name = "gateway";
  c.server.metrics_prefix = "gateway_http";
  c.server.max_body_bytes = 2 << 20;
  c.server.port = 8881;
  c.server.bind_address = "0.0.0.0";
  // In this order: [kafka] checks its limits against [server]'s.
  for (auto* parse : {ParseIdentityAndTls, ParseServerLimits, ParseTokenAndDatabase, ParseKafka,
                      ParseChallenge, ParseLog}) {
    if (auto r = parse(f, c); !r) return r.error();
  }
  if (auto r = f.RejectUnknownKeys(); !r) {
    Error e = r.error();
    e.code = make_error_code(errc::invalid_config);
    return e;
  }
  return c;
}

}  // namespace attest::gateway
