#include "ingest-gateway/gateway.h"

#include <fmt/format.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <limits>

#include "attest/v1/attestation.pb.h"
#include "common/base/uuid.h"
#include "common/http/ops_routes.h"
#include "common/kafka/errors.h"
#include "ingest-gateway/challenge.h"
#include "ingest-gateway/decode.h"
#include "ingest-gateway/errors.h"

namespace attest::gateway {
namespace {

http::Response FromError(const Error& e) {
  int status = HttpStatus(static_cast<errc>(e.code.category() == category() ? e.code.value() : 9));
  return http::Problem(status, e.message);
}

void SetTimestamp(google::protobuf::Timestamp* t, SysClock::time_point tp) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count();
  t->set_seconds(ns / 1'000'000'000);
  t->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

// A random (version 4) UUID.
Result<std::string> RandomUuid() {
  std::array<uint8_t, 16> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    return MakeError(errc::internal, "RAND_bytes failed");
  }
  return UuidText(UuidV4(b));
}

http::Response Encoded(int status, BodyFormat f, const google::protobuf::Message& m) {
  auto body = EncodeBody(f, m);
  if (!body) return http::Problem(500, body.error().message);
  return http::Response::Binary(status, std::string(ContentTypeOf(f)), std::move(body).value());
}

// Appends EvidenceEnvelope.evidence (field 2, length-delimited) holding the
// already encoded Evidence `encoded`. Protobuf merges the fields of
// concatenated encodings, so envelope-without-evidence + this field parses
// as the whole envelope.
bool AppendEvidenceField(std::string_view encoded, std::string* out) {
  static_assert(v1::EvidenceEnvelope::kEvidenceFieldNumber == 2);
  if (encoded.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) return false;
  out->reserve(out->size() + encoded.size() + 6);
  out->push_back(static_cast<char>((2 << 3) | 2));  // field 2, wire type LEN
  uint64_t n = encoded.size();
  while (n >= 0x80) {
    out->push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out->push_back(static_cast<char>(n));
  out->append(encoded);
  return true;
}

}  // namespace

kafka::ProducerConfig EvidenceProducerConfig(const GatewayConfig& c) {
  kafka::ProducerConfig pc;
  pc.bootstrap_servers = c.kafka_bootstrap;
  pc.client_id = "attest-gateway-" + c.gateway_id;
  pc.delivery_timeout = c.kafka_delivery_timeout;
  // Every evidence request waits for its delivery report: a short linger
  // keeps the answer fast; batches still form under load.
  pc.linger = c.kafka_linger;
  pc.close_timeout = c.kafka_delivery_timeout;
  // Reconnect within a second once Kafka is back (librdkafka's default backs
  // off up to 10 s). No Nagle: every request waits for its produce round
  // trip, and small produce requests held back by Nagle meet the broker's
  // delayed ACK (tens of ms).
  // One produce request in flight per broker: when a request times out
  // (delivery_timeout_ms during a leader change), librdkafka 2.0.2 drops the
  // connection, bumps the idempotent producer's epoch and re-sends what was
  // in flight and not timed out under the new epoch, where the broker cannot
  // recognise it as a duplicate (librdkafka issue #4953). With one request
  // out, the records of other requests are never among them, and fewer
  // records are in flight ("possibly persisted") when a broker hangs. It
  // narrows the duplicates, it does not end them (records of one batch can
  // still be re-sent): the worker skips a second copy of the evidence it
  // verified last (docs/faults.md). Batches still form while the one request
  // is out. The operator's properties win.
  pc.extra = {{"reconnect.backoff.max.ms", "1000"},
              {"socket.nagle.disable", "true"},
              {"max.in.flight.requests.per.connection", "1"},
              {"message.max.bytes", std::to_string(c.kafka_message_max_bytes)},
              {"compression.type", c.kafka_compression}};
  for (const auto& [k, v] : c.kafka_properties) pc.extra[k] = v;
  return pc;
}

Result<std::unique_ptr<Gateway>> Gateway::Create(GatewayConfig config, const Clock& clock,
                                                 metrics::Registry* registry) {
  // The keys first: a bad key file is reported before Kafka or the database
  // are tried.
  auto keys = token::KeySet::LoadFiles(config.token_key_files);
  if (!keys) return MakeError(errc::invalid_config, keys.error().message);
  const GatewayConfig& c = config;
  GatewayIo io;
  const kafka::ProducerConfig pc = EvidenceProducerConfig(c);
  auto sink = KafkaEvidenceSink::Create(pc, c.kafka_topic);
  if (!sink) return MakeError(errc::invalid_config, sink.error().message);
  io.sink = std::move(sink).value();

  ProbeOptions po;
  po.kafka_bootstrap = c.kafka_bootstrap;
  po.kafka_properties = pc.extra;
  po.topic = c.kafka_topic;
  po.database_conninfo = c.database_conninfo;
  auto probes = Probes::Start(std::move(po), clock);
  if (!probes) return MakeError(errc::invalid_config, probes.error().message);
  io.readiness = std::move(probes).value();

  io.enrolments = std::make_unique<EnrolmentStore>(c.database_conninfo, c.database_pool_size,
                                                   c.database_max_queue);
  return Assemble(std::move(config), clock, std::move(keys).value(), std::move(io), registry);
}

Result<std::unique_ptr<Gateway>> Gateway::Create(GatewayConfig config, const Clock& clock,
                                                 GatewayIo io, metrics::Registry* registry) {
  auto keys = token::KeySet::LoadFiles(config.token_key_files);
  if (!keys) return MakeError(errc::invalid_config, keys.error().message);
  return Assemble(std::move(config), clock, std::move(keys).value(), std::move(io), registry);
}

Result<std::unique_ptr<Gateway>> Gateway::Assemble(GatewayConfig config, const Clock& clock,
                                                   token::KeySet keys, GatewayIo io,
                                                   metrics::Registry* registry) {
  if (!io.sink || !io.enrolments || !io.readiness) {
    return MakeError(errc::internal, "gateway: an evidence sink, enrolments and probes are needed");
  }
  std::unique_ptr<Gateway> gw(new Gateway(std::move(config), clock, registry, std::move(keys)));
  const GatewayConfig& c = gw->config_;
  if ((PcrMask(c.challenge.pcrs) & kPolicyPcrMask) != kPolicyPcrMask) {
    spdlog::warn(
        "gateway: challenge.pcrs leaves out some of PCRs 0-8 and 10: agents whose measured-boot, "
        "kernel command line or runtime policies read them get REJECTED verdicts "
        "(challenge.insufficient_selection)");
  }
  gw->probes_ = std::move(io.readiness);
  gw->sink_ = std::move(io.sink);
  gw->store_ = std::move(io.enrolments);
  gw->server_ = std::make_unique<http::Server>(c.server, gw->MakeRouter(), gw->registry_);
  return gw;
}

Gateway::Gateway(GatewayConfig config, const Clock& clock, metrics::Registry* registry,
                 token::KeySet keys)
    : config_(std::move(config)),
      clock_(clock),
      registry_(registry ? registry : &own_registry_),
      keys_(std::move(keys)) {
  produce_latency_ =
      &registry_
           ->AddHistogram("gateway_produce_duration_seconds",
                          "From producing an evidence record to its delivery report.", {})
           .With({});
  queue_depth_ = &registry_
                      ->AddGauge("gateway_producer_queue_depth",
                                 "Evidence records produced and not yet acknowledged by Kafka.")
                      .With({});
  evidence_outcomes_ = &registry_->AddCounter(
      "gateway_evidence_total", "Evidence records by outcome after they passed the checks.",
      {"outcome"});
  accepted_ = &evidence_outcomes_->With({"accepted"});
  delivery_failed_ = &evidence_outcomes_->With({"delivery_failed"});
  delivery_unknown_ = &evidence_outcomes_->With({"delivery_unknown"});
  registry_->AddCollector([this] {
    if (sink_) queue_depth_->Set(static_cast<double>(sink_->InFlight()));
  });
}

Gateway::~Gateway() { Stop(); }

Result<void> Gateway::Start() { return server_->Start(); }

uint16_t Gateway::port() const { return server_->port(); }

void Gateway::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (server_) server_->Stop(config_.drain_timeout);
  if (sink_) {
    if (auto r = sink_->Flush(config_.kafka_delivery_timeout); !r) {
      spdlog::warn("gateway: {}", r.error().message);
    }
  }
}

bool Gateway::Ready() const { return probes_->kafka_ok() && probes_->database_ok(); }

http::Response Gateway::Unavailable(std::string_view detail) const {
  http::Response r = http::Problem(503, detail);
  r.RetryAfter(config_.retry_after);
  return r;
}

http::Router Gateway::MakeRouter() {
  http::Router router;
  auto add = [&](const char* method, const char* pattern, http::Handler h) {
    auto r = router.Add(method, pattern, std::move(h));
    if (!r) throw std::logic_error(r.error().message);  // our own constant patterns
  };
  add("POST", "/v1/agents/{uuid}/challenges",
      [this](http::RequestPtr req, http::Responder res) { OnChallenge(std::move(req), res); });
  add("POST", "/v1/agents/{uuid}/evidence",
      [this](http::RequestPtr req, http::Responder res) { OnEvidence(std::move(req), res); });
  http::OpsHandlers ops;
  ops.ready = [this](http::RequestPtr, http::Responder res) { OnReadyz(res); };
  ops.metrics = registry_;
  auto r = http::AddOpsRoutes(router, std::move(ops));
  if (!r) throw std::logic_error(r.error().message);  // our own constant patterns
  return router;
}

void Gateway::OnReadyz(http::Responder res) {
  if (Ready()) return res.Send(http::Response::Text(200, "ready\n"));
  res.Send(Unavailable("not ready: " + probes_->Status()));
}

void Gateway::OnChallenge(http::RequestPtr req, http::Responder res) {
  auto format = FormatOf(req->content_type());
  if (!format) return res.Send(FromError(format.error()));
  auto uuid = CanonicalUuid(req->param("uuid"));
  if (!uuid) return res.Send(FromError(uuid.error()));
  auto request = std::make_shared<v1::ChallengeRequest>();
  if (auto r = DecodeBody(*format, req->body(), request.get()); !r) {
    return res.Send(FromError(r.error()));
  }
  if (auto r = CheckChallengeRequest(*uuid, request.get()); !r) {
    return res.Send(FromError(r.error()));
  }
  const BodyFormat out = ResponseFormat(req->header("Accept"), *format);
  auto on_row = [this, res, request, uuid = *uuid, out](Result<std::optional<EnrolmentRow>> row) {
    if (!row) return res.Send(Unavailable(row.error().message));
    const auto now = clock_.Now();
    ChallengeDecision d = Decide(uuid, *row, *request, now, config_.challenge);
    if (d.kind == ChallengeDecision::Kind::kNotFound) return res.Send(http::Problem(404, d.detail));
    if (d.kind == ChallengeDecision::Kind::kTooEarly) {
      http::Response r = http::Problem(429, d.detail);
      r.RetryAfter(d.retry_after);
      return res.Send(std::move(r));
    }
    // The token binds what the challenge asks (bank, PCRs, UEFI log), so the
    // worker can tell a challenge that asked too little from an agent that
    // quoted less than asked.
    const token::Binding binding{.pcr_bank = TpmAlgOf(config_.challenge.pcr_bank),
                                 .pcr_mask = PcrMask(config_.challenge.pcrs),
                                 .uefi_log_requested = d.uefi_log_requested};
    auto token = token::Issue(keys_, uuid, now, d.ima_offset, binding);
    if (!token) return res.Send(http::Problem(500, token.error().message));
    v1::Challenge ch;
    ch.set_token(std::move(token).value());
    SetTimestamp(ch.mutable_issued_at(), now);
    SetTimestamp(ch.mutable_expires_at(), now + config_.token_ttl);
    auto* sel = ch.add_pcr_selection();
    sel->set_hash_algorithm(config_.challenge.pcr_bank);
    for (uint32_t pcr : config_.challenge.pcrs) sel->add_pcrs(pcr);
    ch.set_quote_hash_algorithm(config_.challenge.quote_hash);
    ch.set_ima_offset(d.ima_offset);
    ch.set_uefi_log_requested(d.uefi_log_requested);
    ch.set_interval_seconds(d.interval_seconds);
    ch.set_max_evidence_bytes(config_.server.max_body_bytes);
    if (d.reboot) spdlog::info("gateway: agent {} reports a new boot; challenge at once", uuid);
    res.Send(Encoded(200, out, ch));
  };
  if (!store_->Lookup(*uuid, std::move(on_row))) {
    res.Send(Unavailable("too many enrolment lookups pending"));
  }
}

// One evidence record on its way to Kafka. When Kafka may have written it but
// never said so (errc::possibly_written), the same bytes are sent again: a
// copy carries the same receipt time, and the worker skips a second copy of
// the evidence it verified last (docs/worker.md), so a re-send cannot give a
// second verdict. Answering "not written" instead would refuse evidence that
// may still get a verdict.
struct Gateway::PendingEvidence {
  explicit PendingEvidence(http::Responder r) : res(std::move(r)) {}
  http::Responder res;
  BodyFormat format = BodyFormat::kProtobuf;
  Clock::MonotonicTime start;
  int64_t next_seconds = 0;
  std::string id;
  std::string uuid;
  std::string value;
  int sends = 0;
  bool possibly_written = false;  // an earlier send may be on the topic
};

namespace {
// Sends of one record before an unknown outcome is answered as such. Each
// waits up to kafka.delivery_timeout_ms (10 s): the answer comes within 20 s,
// inside the agent's 30 s request timeout (agent request_timeout_ms).
constexpr int kMaxEvidenceSends = 2;
}  // namespace

void Gateway::OnEvidence(http::RequestPtr req, http::Responder res) {
  auto format = FormatOf(req->content_type());
  if (!format) return res.Send(FromError(format.error()));
  auto uuid = CanonicalUuid(req->param("uuid"));
  if (!uuid) return res.Send(FromError(uuid.error()));
  v1::EvidenceEnvelope envelope;
  v1::Evidence* evidence = envelope.mutable_evidence();
  if (auto r = DecodeBody(*format, req->body(), evidence); !r) {
    return res.Send(FromError(r.error()));
  }
  const bool uuid_was_canonical = evidence->agent_uuid() == *uuid;
  // IMA and UEFI log bounded by the body limit (docs/gateway.md, "Evidence shape").
  if (auto r =
          CheckEvidence(*uuid, evidence, evidence::LimitsForBody(config_.server.max_body_bytes));
      !r) {
    return res.Send(FromError(r.error()));
  }
  // An IMA list arriving in parts: the next part soon, not after an interval
  // (read here: `evidence` may be spliced away below).
  const bool more_ima = evidence->has_ima() && evidence->has_capabilities() &&
                        evidence->ima().start_offset() + evidence->ima().entry_count() <
                            evidence->capabilities().ima_entry_count();
  const uint32_t next_seconds =
      more_ima ? static_cast<uint32_t>(config_.challenge.catch_up_interval.count()) : 0;

  const auto now = clock_.Now();
  auto claims = token::Verify(keys_, evidence->challenge_token(), *uuid, now,
                              {.ttl = config_.token_ttl, .max_skew = config_.token_max_skew});
  if (!claims) {
    int status = claims.error().code == token::errc::other_agent ? 403 : 401;
    return res.Send(http::Problem(status, claims.error().message));
  }
  if (evidence->has_ima() && evidence->ima().start_offset() != claims->ima_offset) {
    return res.Send(http::Problem(
        400, fmt::format("ima.start_offset {} differs from the challenge's IMA offset {}",
                         evidence->ima().start_offset(), claims->ima_offset)));
  }
  if (!probes_->kafka_ok()) return res.Send(Unavailable("kafka is unreachable"));

  auto evidence_id = RandomUuid();
  if (!evidence_id) return res.Send(http::Problem(500, evidence_id.error().message));
  envelope.set_evidence_id(*evidence_id);
  SetTimestamp(envelope.mutable_received_at(), now);
  envelope.set_gateway_id(config_.gateway_id);
  SetTimestamp(envelope.mutable_token_issued_at(), claims->issued_at);
  envelope.set_token_ima_offset(claims->ima_offset);
  // A Protobuf body that CheckEvidence left as it was is already the
  // encoding of `evidence`: splice it in instead of encoding it again.
  const bool splice = *format == BodyFormat::kProtobuf && uuid_was_canonical;
  if (splice) envelope.clear_evidence();
  std::string value;
  if (!envelope.SerializeToString(&value) ||
      (splice && !AppendEvidenceField(req->body(), &value))) {
    return res.Send(http::Problem(500, "cannot serialize the evidence envelope"));
  }
  req->mutable_body().clear();  // in `value` now; do not hold the bytes twice

  auto p = std::make_shared<PendingEvidence>(res);
  p->format = ResponseFormat(req->header("Accept"), *format);
  p->start = clock_.Monotonic();
  p->next_seconds = next_seconds;
  p->id = *evidence_id;
  p->uuid = *uuid;
  p->value = std::move(value);
  ProduceEvidence(std::move(p));
}

void Gateway::ProduceEvidence(std::shared_ptr<PendingEvidence> p) {
  ++p->sends;
  auto unknown_outcome = [this, p](std::string_view why) {
    // Neither accepted nor refused: said so, so that nobody reads a verdict
    // that may follow as one for refused evidence.
    delivery_unknown_->Inc();
    spdlog::warn("gateway: evidence {} of agent {} outcome unknown after {} sends: {}", p->id,
                 p->uuid, p->sends, why);
    p->res.Send(Unavailable(fmt::format(
        "evidence {} of agent {}: outcome unknown, Kafka may have written it and a verdict may "
        "follow: {}",
        p->id, p->uuid, why)));
  };
  auto on_delivery = [this, p, unknown_outcome](const Result<kafka::Delivery>& d) {
    if (d) {
      produce_latency_->Observe(
          std::chrono::duration<double>(clock_.Monotonic() - p->start).count());
      accepted_->Inc();
      v1::EvidenceAccepted accepted;
      accepted.set_evidence_id(p->id);
      // 0: the gateway does not read the database on this path; the agent
      // uses the challenge's interval_seconds (unless catching up).
      accepted.set_next_attestation_seconds(p->next_seconds);
      return p->res.Send(Encoded(202, p->format, accepted));
    }
    const bool unknown = d.error().code == kafka::errc::possibly_written;
    p->possibly_written = p->possibly_written || unknown;
    if (unknown && p->sends < kMaxEvidenceSends) {
      spdlog::warn("gateway: evidence {} of agent {}: {}; sending it again ({} of {})", p->id,
                   p->uuid, d.error().message, p->sends + 1, kMaxEvidenceSends);
      return ProduceEvidence(p);
    }
    produce_latency_->Observe(std::chrono::duration<double>(clock_.Monotonic() - p->start).count());
    if (p->possibly_written) return unknown_outcome(d.error().message);
    delivery_failed_->Inc();
    p->res.Send(Unavailable(fmt::format("evidence {} of agent {} not written to Kafka: {}", p->id,
                                        p->uuid, d.error().message)));
  };
  auto produced = sink_->Publish(p->uuid, p->value, std::move(on_delivery));
  if (!produced) {
    if (p->possibly_written) return unknown_outcome(produced.error().message);
    evidence_outcomes_->With({"produce_refused"}).Inc();
    p->res.Send(Unavailable("kafka cannot take the evidence: " + produced.error().message));
  }
}

}  // namespace attest::gateway
