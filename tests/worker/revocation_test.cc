// Revocations and verdicts a SOC can trust (issue 17, point 6), without a
// broker or a database: what the worker signs (RevocationSigner, the
// processor's verdicts), what the relay publishes (ToKafkaRecord) and what a
// consumer checks (VerifyRevocation, VerifyVerdict, IsReplay). Each attack is
// built: an envelope key id swapped for another trusted key's, a signed event
// that names another key, altered verdict bytes, a replayed revocation, a
// signed verdict re-wrapped as a revocation (and the reverse). The
// last tests run the openssl blocks of docs/soc.md, as written there, on
// records signed by this code, so the documentation cannot rot.
#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/base/config.h"
#include "tests/harness/util/process.h"
#include "verifier-workers/config.h"
#include "verifier-workers/errors.h"
#include "verifier-workers/processor.h"
#include "verifier-workers/relay.h"
#include "verifier-workers/revocation.h"

namespace attest::worker {
namespace {

using google::protobuf::util::TimeUtil;
namespace fs = std::filesystem;

const std::string kAgent = "0d8e5a52-1c1f-4c0e-b3f0-6e3f0f6f9a01";

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const fs::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// A key pair made by the openssl CLI, as an operator makes it.
struct KeyPair {
  std::string algorithm;  // "ec" or "ed25519"
  fs::path priv, pub;
};

class RevocationTest : public ::testing::TestWithParam<std::string> {
 protected:
  KeyPair MakeKey(const std::string& name) {
    KeyPair k{GetParam(), dir_.path() / (name + ".pem"), dir_.path() / (name + ".pub.pem")};
    std::vector<std::string> gen = {"openssl", "genpkey", "-out", k.priv.string()};
    if (GetParam() == "ec") {
      gen.insert(gen.end(), {"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"});
    } else {
      gen.insert(gen.end(), {"-algorithm", "ED25519"});
    }
    std::string out;
    EXPECT_EQ(testing::RunCommand(gen, &out), 0) << out;
    EXPECT_EQ(
        testing::RunCommand(
            {"openssl", "pkey", "-in", k.priv.string(), "-pubout", "-out", k.pub.string()}, &out),
        0)
        << out;
    return k;
  }
  std::shared_ptr<const RevocationSigner> Signer(const KeyPair& k, const std::string& id) {
    auto s = RevocationSigner::FromPem(ReadAll(k.priv), id);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return *s;
  }
  PkeyPtr Public(const KeyPair& k) {
    auto p = LoadPublicKeyPem(ReadAll(k.pub));
    EXPECT_TRUE(p.ok()) << p.error().message;
    return std::move(*p);
  }
  v1::RevocationEvent Event(uint64_t seq, int64_t seconds) {
    v1::RevocationEvent ev;
    ev.set_agent_uuid(kAgent);
    ev.set_sequence(seq);
    ev.set_reason("ima.validation.ima-ng.not_in_allowlist");
    ev.add_event_ids("ima.validation.ima-ng.not_in_allowlist");
    *ev.mutable_time() = TimeUtil::SecondsToTimestamp(seconds);
    ev.set_worker_id("w1");
    ev.set_backend_id("prod-eu");
    return ev;
  }
  // The worker's verdict path: a liveness verdict built by the processor.
  Outcome OfflineVerdict(const RevocationSigner* signer, bool sign, Encoding enc) {
    Context ctx;
    ctx.signer = signer;
    ctx.sign_verdicts = sign;
    ctx.worker_id = "w1";
    ctx.backend_id = "prod-eu";
    ctx.verdict_topic = "attestation.verdicts";
    ctx.revocation_topic = "attestation.revocations";
    ctx.encoding = enc;
    AgentRow row;
    row.agent_id = kAgent;
    row.state = EnrolmentState::kPass;
    row.sequence = 41;
    return MakeOffline(ctx, row, Clock::now());
  }
  static std::string Header(const std::vector<kafka::Header>& hs, std::string_view name) {
    for (const auto& h : hs) {
      if (h.name == name) return h.value;
    }
    return "";
  }
  // What a consumer reads off the topic for an outbox row.
  struct Published {
    std::string value, content_type, sig_b64, alg, key_id;
  };
  static Published Publish(OutboxRecord rec) {
    auto headers = ToKafkaRecord(rec);
    EXPECT_TRUE(headers.ok()) << headers.error().message;
    return Published{rec.payload, Header(*headers, "content-type"),
                     Header(*headers, kHeaderSignature),
                     Header(*headers, kHeaderSignatureAlgorithm), Header(*headers, kHeaderKeyId)};
  }
  static Result<v1::Verdict> Check(const Published& p, EVP_PKEY* key) {
    auto sig = Base64Decode(p.sig_b64);
    if (!sig) return sig.error();
    return VerifyVerdict(SignedVerdictRecord{p.value, p.content_type, p.alg, p.key_id, *sig}, key);
  }

  testing::TempDir dir_{"revocation-test"};
};

TEST_P(RevocationTest, KeyIdAlgorithmAndIssuerAreInsideTheSignedEvent) {
  const KeyPair a = MakeKey("a");
  auto signer = Signer(a, "prod-key-1");
  auto sr = signer->Sign(Event(7, 1'800'000'000));
  ASSERT_TRUE(sr.ok()) << sr.error().message;
  EXPECT_TRUE(VerifyRevocation(*sr, Public(a).get()).ok());
  v1::RevocationEvent inner;
  ASSERT_TRUE(inner.ParseFromString(sr->event()));
  EXPECT_EQ(inner.key_id(), "prod-key-1");
  EXPECT_EQ(inner.signature_algorithm(), signer->algorithm());
  EXPECT_EQ(inner.worker_id(), "w1");
  EXPECT_EQ(inner.backend_id(), "prod-eu");
  EXPECT_EQ(inner.sequence(), 7u);
  EXPECT_EQ(inner.time().seconds(), 1'800'000'000);
}

// Attack: the unsigned envelope names another trusted key while the signed
// event names the real one (or the reverse: a key the attacker holds signs
// an event claiming to come from the production key). Old code: valid.
TEST_P(RevocationTest, EnvelopeKeyIdSwappedIsInvalid) {
  const KeyPair a = MakeKey("a"), b = MakeKey("b");
  auto prod = Signer(a, "prod-key-1");
  auto sr = prod->Sign(Event(7, 1'800'000'000));
  ASSERT_TRUE(sr.ok());
  sr->set_key_id("lab-key-2");
  auto r = VerifyRevocation(*sr, Public(a).get());
  EXPECT_FALSE(r.ok());

  // Key B (trusted for another backend) signs bytes that claim key A.
  auto other = Signer(b, "lab-key-2");
  v1::RevocationEvent ev = Event(8, 1'800'000'100);
  ev.set_key_id("prod-key-1");
  ev.set_signature_algorithm(other->algorithm());
  v1::SignedRevocation forged;
  ev.SerializeToString(forged.mutable_event());
  forged.set_key_id("lab-key-2");
  forged.set_signature_algorithm(other->algorithm());
  auto sig = other->SignBytes(RevocationSignedMessage(forged.event()));
  ASSERT_TRUE(sig.ok());
  forged.set_signature(*sig);
  auto f = VerifyRevocation(forged, Public(b).get());
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("another key id"), std::string::npos) << f.error().message;
}

// An event signed before the key id was inside (or by a tool that leaves it
// out) does not bind its key: invalid.
TEST_P(RevocationTest, SignedEventWithoutKeyIdIsInvalid) {
  const KeyPair a = MakeKey("a");
  auto signer = Signer(a, "prod-key-1");
  v1::SignedRevocation sr;
  Event(7, 1'800'000'000).SerializeToString(sr.mutable_event());
  sr.set_key_id("prod-key-1");
  sr.set_signature_algorithm(signer->algorithm());
  sr.set_signature(*signer->SignBytes(RevocationSignedMessage(sr.event())));
  EXPECT_FALSE(VerifyRevocation(sr, Public(a).get()).ok());
}

// Attack: a revocation replayed later (the identical record, or an older
// one of the same agent). The replay fields are signed, and the consumer
// check flags anything not newer than what it acted on.
TEST_P(RevocationTest, ReplayedRevocationIsFlagged) {
  const KeyPair a = MakeKey("a");
  auto signer = Signer(a, "prod-key-1");
  auto first = signer->Sign(Event(7, 1'800'000'000));
  ASSERT_TRUE(first.ok());
  v1::RevocationEvent acted;
  ASSERT_TRUE(acted.ParseFromString(first->event()));
  const RevocationMark last = MarkOf(acted);

  EXPECT_TRUE(IsReplay(acted, last));                     // the same record again
  EXPECT_TRUE(IsReplay(Event(5, 1'799'999'000), last));   // an older one
  EXPECT_FALSE(IsReplay(Event(9, 1'800'000'500), last));  // the next failure
  EXPECT_FALSE(IsReplay(Event(8, 1'800'000'000), last));  // same second, later verdict
  // Deleted and registered again: the sequence restarts, the time moves on.
  EXPECT_FALSE(IsReplay(Event(1, 1'800'100'000), last));

  // Moving the time forward breaks the signature.
  v1::SignedRevocation moved = *first;
  v1::RevocationEvent ev = acted;
  *ev.mutable_time() = TimeUtil::SecondsToTimestamp(1'900'000'000);
  ev.SerializeToString(moved.mutable_event());
  EXPECT_FALSE(VerifyRevocation(moved, Public(a).get()).ok());
}

TEST_P(RevocationTest, SignedVerdictVerifiesAsPublished) {
  const KeyPair a = MakeKey("a");
  auto signer = Signer(a, "prod-key-1");
  for (Encoding enc : {Encoding::kProtobuf, Encoding::kJson}) {
    Outcome out = OfflineVerdict(signer.get(), true, enc);
    ASSERT_FALSE(out.outbox.empty());
    EXPECT_EQ(out.outbox[0].content_type, kSignedVerdictContentType);
    Published p = Publish(out.outbox[0]);
    EXPECT_EQ(p.content_type,
              enc == Encoding::kJson ? "application/json" : "application/x-protobuf");
    EXPECT_EQ(p.key_id, "prod-key-1");
    EXPECT_EQ(p.alg, signer->algorithm());
    auto v = Check(p, Public(a).get());
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(v->agent_uuid(), kAgent);
    EXPECT_EQ(v->result(), v1::VERDICT_RESULT_OFFLINE);
    EXPECT_EQ(v->signer_key_id(), "prod-key-1");
    EXPECT_EQ(v->backend_id(), "prod-eu");
  }
}

// Attack: a verdict whose bytes were altered on the way (FAIL turned into
// PASS, or any byte), or whose header names another key.
TEST_P(RevocationTest, AlteredVerdictIsInvalid) {
  const KeyPair a = MakeKey("a");
  auto signer = Signer(a, "prod-key-1");
  for (Encoding enc : {Encoding::kProtobuf, Encoding::kJson}) {
    Published p = Publish(OfflineVerdict(signer.get(), true, enc).outbox[0]);
    ASSERT_TRUE(Check(p, Public(a).get()).ok());
    if (enc == Encoding::kJson) {
      const size_t at = p.value.find("VERDICT_RESULT_OFFLINE");
      ASSERT_NE(at, std::string::npos);
      Published pass = p;
      pass.value.replace(at, 22, "VERDICT_RESULT_PASS");
      EXPECT_FALSE(Check(pass, Public(a).get()).ok());
    }
    for (size_t i = 0; i < p.value.size(); i += 7) {
      Published bad = p;
      bad.value[i] ^= 0x01;
      EXPECT_FALSE(Check(bad, Public(a).get()).ok()) << "byte " << i;
    }
    Published swapped = p;
    swapped.key_id = "lab-key-2";
    EXPECT_FALSE(Check(swapped, Public(a).get()).ok());
    Published stripped = p;
    stripped.sig_b64.clear();
    stripped.alg.clear();
    stripped.key_id.clear();
    EXPECT_FALSE(Check(stripped, Public(a).get()).ok());
  }
}

// A verdict whose attacker-set evidence_id is the key's algorithm and whose
// policy_versions encodes as a short key id, signed as the worker signs it.
v1::Verdict CrossVerdict(const std::string& algorithm) {
  v1::Verdict v;
  v.set_agent_uuid(kAgent);
  v.set_sequence(12);
  v.set_result(v1::VERDICT_RESULT_PASS);
  v.mutable_policy_versions()->set_runtime(1);  // field 6 -> RevocationEvent.key_id "\x10\x01"
  v.set_evidence_id(algorithm);                 // field 7 -> RevocationEvent.signature_algorithm
  v.set_worker_id("w1");
  v.set_signer_key_id("prod-key-1");
  v.set_backend_id("prod-eu");
  return v;
}

// Attack (cross-protocol): the same key signs verdicts and revocations. A
// signed protobuf verdict parses as a RevocationEvent (policy_versions ->
// key_id, evidence_id -> signature_algorithm), so it is re-wrapped as
// SignedRevocation{event = verdict bytes, key_id = "\x10\x01", signature =
// the verdict's}. Old code (signatures over raw bytes): a valid revocation.
TEST_P(RevocationTest, SignedVerdictRewrappedAsRevocationIsInvalid) {
  const KeyPair a = MakeKey("a");
  auto signer = Signer(a, "prod-key-1");
  const v1::Verdict v = CrossVerdict(signer->algorithm());
  Context ctx;
  ctx.signer = signer.get();
  ctx.sign_verdicts = true;
  ctx.verdict_topic = "attestation.verdicts";
  ctx.encoding = Encoding::kProtobuf;
  Published p = Publish(EncodeVerdict(ctx, v, 0));
  ASSERT_TRUE(Check(p, Public(a).get()).ok());  // a genuine signed verdict

  v1::RevocationEvent as_event;
  ASSERT_TRUE(as_event.ParseFromString(p.value));  // the confusion the attack needs
  EXPECT_EQ(as_event.key_id(), std::string("\x10\x01"));
  EXPECT_EQ(as_event.signature_algorithm(), signer->algorithm());
  EXPECT_EQ(as_event.agent_uuid(), kAgent);

  v1::SignedRevocation forged;
  forged.set_event(p.value);
  forged.set_key_id(as_event.key_id());
  forged.set_signature_algorithm(p.alg);
  forged.set_signature(*Base64Decode(p.sig_b64));
  auto r = VerifyRevocation(forged, Public(a).get());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("does not verify"), std::string::npos) << r.error().message;
}

// The reverse: a signed revocation's event bytes and signature presented as
// a protobuf verdict record. The signature itself must not carry over (old
// code: it verified, only the missing signer_key_id stopped it).
TEST_P(RevocationTest, SignedRevocationRewrappedAsVerdictIsInvalid) {
  const KeyPair a = MakeKey("a");
  auto signer = Signer(a, "prod-key-1");
  auto sr = signer->Sign(Event(7, 1'800'000'000));
  ASSERT_TRUE(sr.ok());
  Published p{sr->event(), "application/x-protobuf", Base64Encode(sr->signature()),
              sr->signature_algorithm(), sr->key_id()};
  auto r = Check(p, Public(a).get());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("does not verify"), std::string::npos) << r.error().message;
}

// Raw signatures (no context) verify as neither kind; the contexts are fixed
// (docs/soc.md prints them with printf).
TEST_P(RevocationTest, SignaturesWithoutContextAreInvalid) {
  const KeyPair a = MakeKey("a");
  auto signer = Signer(a, "prod-key-1");
  auto sr = signer->Sign(Event(7, 1'800'000'000));
  ASSERT_TRUE(sr.ok());
  v1::SignedRevocation raw = *sr;
  raw.set_signature(*signer->SignBytes(sr->event()));
  EXPECT_FALSE(VerifyRevocation(raw, Public(a).get()).ok());
  EXPECT_TRUE(VerifySignature(sr->signature_algorithm(), sr->signature(),
                              std::string("attest.v1.RevocationEvent\0", 26) + sr->event(),
                              Public(a).get())
                  .ok());

  Published p = Publish(OfflineVerdict(signer.get(), true, Encoding::kProtobuf).outbox[0]);
  Published unprefixed = p;
  unprefixed.sig_b64 = Base64Encode(*signer->SignBytes(p.value));
  EXPECT_FALSE(Check(unprefixed, Public(a).get()).ok());
  EXPECT_TRUE(VerifySignature(p.alg, *Base64Decode(p.sig_b64),
                              std::string("attest.v1.Verdict\0", 18) + p.value, Public(a).get())
                  .ok());
}

// The switch: sign_verdicts = false publishes the plain verdict, no headers.
TEST_P(RevocationTest, SignVerdictsOffPublishesUnsigned) {
  const KeyPair a = MakeKey("a");
  auto signer = Signer(a, "prod-key-1");
  Outcome out = OfflineVerdict(signer.get(), false, Encoding::kProtobuf);
  ASSERT_FALSE(out.outbox.empty());
  EXPECT_EQ(out.outbox[0].content_type, "application/x-protobuf");
  v1::Verdict v;
  ASSERT_TRUE(v.ParseFromString(out.outbox[0].payload));
  EXPECT_TRUE(v.signer_key_id().empty());
  Published p = Publish(out.outbox[0]);
  EXPECT_TRUE(p.sig_b64.empty());
  EXPECT_TRUE(p.key_id.empty());
  auto r = Check(p, Public(a).get());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not signed"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Keys, RevocationTest, ::testing::Values("ec", "ed25519"));

TEST(RelayFormTest, CorruptSignedVerdictRowIsAnError) {
  OutboxRecord rec;
  rec.topic = "attestation.verdicts";
  rec.content_type = std::string(kSignedVerdictContentType);
  rec.payload = "\xff\xff\xff";
  EXPECT_FALSE(ToKafkaRecord(rec).ok());
  OutboxRecord plain;
  plain.content_type = "application/json";
  plain.payload = "{}";
  auto h = ToKafkaRecord(plain);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ((*h)[0].name, "content-type");
}

TEST(Base64Test, RoundTripAndStrictness) {
  const std::vector<std::string> inputs = {"",    "a",    "ab",
                                           "abc", "abcd", std::string("\0\xff\x10", 3)};
  for (const std::string& s : inputs) {
    auto d = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
  }
  EXPECT_FALSE(Base64Decode("abc").ok());
  EXPECT_FALSE(Base64Decode("ab\"=").ok());
  EXPECT_FALSE(Base64Decode("a=bc").ok());
}

Result<WorkerConfig> Parse(const std::string& extra) {
  const std::string text =
      "[kafka]\nbootstrap_servers = \"k:9092\"\ngroup_id = \"attest-prod\"\n"
      "[database]\nconninfo = \"host=db\"\n[token]\nkey_files = [\"/t\"]\n"
      "[revocation]\nsigning_key_file = \"/r\"\nkey_id = \"k1\"\n" +
      extra;
  auto f = ConfigFile::Parse(text, "<test>");
  if (!f) return f.error();
  return ParseWorkerConfig(*f);
}

// Issue 19.4: a key the worker does not read is an error, not a setting
// silently ignored.
TEST(WorkerConfigTest, UnknownKeysAndKeysInTheWrongTableAreErrors) {
  auto c = Parse("[output]\nencoding = \"json\"\nsign_verdicts = false\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, make_error_code(errc::invalid_config));
  EXPECT_EQ(c.error().message,
            "<test>:13:1: key 'output.sign_verdicts': unknown key; 'sign_verdicts' belongs in "
            "[revocation]");
  c = Parse("[batch]\nmax_cout = 100\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "<test>:12:1: key 'batch.max_cout': unknown key; did you mean 'max_count'?");
}

TEST(SignVerdictsConfigTest, OnByDefaultStrictlyTyped) {
  auto c = Parse("");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->sign_verdicts);
  EXPECT_EQ(c->backend_id, "attest-prod");  // the group's name by default
  auto off = Parse("sign_verdicts = false\n");
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(off->sign_verdicts);
  EXPECT_FALSE(Parse("sign_verdicts = \"no\"\n").ok());
  auto named = ParseWorkerConfig(
      *ConfigFile::Parse("backend_id = \"prod-eu\"\n[kafka]\nbootstrap_servers = \"k:9092\"\n"
                         "[database]\nconninfo = \"host=db\"\n[token]\nkey_files = [\"/t\"]\n"
                         "[revocation]\nsigning_key_file = \"/r\"\nkey_id = \"k1\"\n",
                         "<test>"));
  ASSERT_TRUE(named.ok()) << named.error().message;
  EXPECT_EQ(named->backend_id, "prod-eu");
}

// Issue 20.1: the graceful stop's drain timeouts come from [shutdown].
TEST(WorkerConfigTest, DrainTimeoutsFromShutdownTable) {
  auto c = Parse("");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->batch_drain_timeout, std::chrono::milliseconds(5'000));
  EXPECT_EQ(c->outbox_drain_timeout, std::chrono::milliseconds(10'000));
  c = Parse("[shutdown]\nbatch_drain_timeout_ms = 750\noutbox_drain_timeout_ms = 0\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->batch_drain_timeout, std::chrono::milliseconds(750));
  EXPECT_EQ(c->outbox_drain_timeout, std::chrono::milliseconds(0));
  EXPECT_FALSE(Parse("[shutdown]\nbatch_drain_timeout_ms = -1\n").ok());
  EXPECT_FALSE(Parse("[shutdown]\noutbox_drain_timeout_ms = 3600001\n").ok());
}

// docs/soc.md: the fenced ```sh blocks whose first line is
// "# [soc-check: NAME]", run as written.
std::string DocBlock(const std::string& name) {
  const std::string doc = ReadAll(fs::path(ATTEST_SOURCE_DIR) / "docs" / "soc.md");
  const std::string marker = "```sh\n# [soc-check: " + name + "]";
  const size_t start = doc.find(marker);
  if (start == std::string::npos) return "";
  const size_t body = start + 6;
  const size_t end = doc.find("\n```", body);
  return end == std::string::npos ? "" : doc.substr(body, end - body + 1);
}

class SocDocTest : public RevocationTest {
 protected:
  int RunBlock(const std::string& name, std::string* out) {
    const std::string block = DocBlock(name);
    EXPECT_FALSE(block.empty()) << "docs/soc.md has no block [soc-check: " << name << "]";
    WriteAll(dir_.path() / (name + ".sh"), block);
    return testing::RunCommand(
        {"bash", "-c", "cd \"$1\" && bash -euo pipefail ./" + name + ".sh", "bash",
         dir_.path().string()},
        out, {"PROTO_DIR=" + (fs::path(ATTEST_SOURCE_DIR) / "schemas" / "proto").string()});
  }
  void CopyPub(const KeyPair& k) {
    fs::copy_file(k.pub, dir_.path() / "revocation.pub.pem", fs::copy_options::overwrite_existing);
  }
};

TEST_P(SocDocTest, OpensslVerifiesARevocationAsDocumented) {
  const KeyPair a = MakeKey("a");
  CopyPub(a);
  auto signer = Signer(a, "prod-key-1");
  auto sr = signer->Sign(Event(7, 1'800'000'000));
  ASSERT_TRUE(sr.ok());
  // The JSON encoding, as the processor writes it.
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*sr, &json).ok());
  WriteAll(dir_.path() / "rev.json", json);
  std::string out;
  EXPECT_EQ(RunBlock("revocation", &out), 0) << out;
  EXPECT_NE(out.find("agent_uuid: \"" + kAgent + "\""), std::string::npos) << out;

  // The documented check catches the swapped envelope key id...
  v1::SignedRevocation swapped = *sr;
  swapped.set_key_id("lab-key-2");
  json.clear();
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(swapped, &json).ok());
  WriteAll(dir_.path() / "rev.json", json);
  out.clear();
  EXPECT_NE(RunBlock("revocation", &out), 0) << out;
  // ...and an altered event.
  v1::SignedRevocation altered = *sr;
  altered.mutable_event()->back() ^= 1;
  json.clear();
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(altered, &json).ok());
  WriteAll(dir_.path() / "rev.json", json);
  out.clear();
  EXPECT_NE(RunBlock("revocation", &out), 0) << out;
  // ...and a signed verdict re-wrapped as a revocation: step 1 fails.
  auto sv = signer->SignVerdict(CrossVerdict(signer->algorithm()).SerializeAsString(),
                                "application/x-protobuf");
  ASSERT_TRUE(sv.ok());
  v1::SignedRevocation wrapped;
  wrapped.set_event(sv->verdict());
  wrapped.set_key_id(std::string("\x10\x01"));
  wrapped.set_signature_algorithm(sv->signature_algorithm());
  wrapped.set_signature(sv->signature());
  json.clear();
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(wrapped, &json).ok());
  WriteAll(dir_.path() / "rev.json", json);
  out.clear();
  EXPECT_NE(RunBlock("revocation", &out), 0) << out;
  EXPECT_NE(out.find("erification"), std::string::npos) << out;  // openssl, not step 2
}

TEST_P(SocDocTest, OpensslVerifiesAVerdictAsDocumented) {
  const KeyPair a = MakeKey("a");
  CopyPub(a);
  auto signer = Signer(a, "prod-key-1");
  for (Encoding enc : {Encoding::kJson, Encoding::kProtobuf}) {
    Published p = Publish(OfflineVerdict(signer.get(), true, enc).outbox[0]);
    // As `kcat -f '%h\n%s'` writes a record: the headers as n=v CSV.
    auto record = [&](const Published& q) {
      return "content-type=" + q.content_type + ",attest-sig=" + q.sig_b64 +
             ",attest-sig-alg=" + q.alg + ",attest-key-id=" + q.key_id + "\n" + q.value;
    };
    WriteAll(dir_.path() / "record", record(p));
    std::string out;
    EXPECT_EQ(RunBlock("verdict", &out), 0) << out;
    Published bad = p;
    bad.value[bad.value.size() / 2] ^= 0x01;
    WriteAll(dir_.path() / "record", record(bad));
    out.clear();
    EXPECT_NE(RunBlock("verdict", &out), 0) << out;
    Published swapped = p;
    swapped.key_id = "lab-key-2";
    WriteAll(dir_.path() / "record", record(swapped));
    out.clear();
    EXPECT_NE(RunBlock("verdict", &out), 0) << out;
  }
}

INSTANTIATE_TEST_SUITE_P(Keys, SocDocTest, ::testing::Values("ec", "ed25519"));

}  // namespace
}  // namespace attest::worker
