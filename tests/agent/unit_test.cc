// Agent building blocks in process: state files, IMA reading, boot time,
// address failover (deterministic seeds), the TPM side of a quote.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "agent/config.h"
#include "agent/endpoints.h"
#include "agent/errors.h"
#include "agent/sources.h"
#include "agent/state.h"
#include "agent/tpm.h"
#include "common/base/uuid.h"
#include "tests/agent/fake_backend.h"
#include "tests/harness/pki/pki.h"
#include "tests/harness/swtpm/swtpm.h"
#include "tests/harness/util/process.h"

namespace attest::agent {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

int FileMode(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 0777);
}

TEST(StateStore, UuidIsMadeOnceAndKeptPrivately) {
  TempDir dir;
  fs::path sd = dir.path() / "state";
  std::string first;
  {
    auto s = StateStore::Open(sd);
    ASSERT_TRUE(s.ok()) << s.error().message;
    auto u = s->LoadOrCreateUuid("");
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_TRUE(IsCanonicalUuid(*u)) << *u;
    first = *u;
  }
  EXPECT_EQ(FileMode(sd), 0700);
  EXPECT_EQ(FileMode(sd / "uuid"), 0600);
  auto s = StateStore::Open(sd);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s->LoadOrCreateUuid(""), first);
  // A configured UUID wins; a malformed one is refused.
  EXPECT_EQ(*s->LoadOrCreateUuid("d432fbb3-d2f1-4a97-9ef7-75bd81c00000"),
            "d432fbb3-d2f1-4a97-9ef7-75bd81c00000");
  EXPECT_FALSE(s->LoadOrCreateUuid("not-a-uuid").ok());
}

TEST(StateStore, RegistrationRecordsSurviveReopenAndCorruptionIsAnError) {
  TempDir dir;
  ServerBlock block;
  block.registrars = {*ParseServerAddress("b.example", 8891),
                      *ParseServerAddress("a.example", 8891)};
  block.verifiers = {*ParseServerAddress("gw", 8881)};
  ServerBlock reordered = block;
  std::swap(reordered.registrars[0], reordered.registrars[1]);
  EXPECT_EQ(BlockKey(block), BlockKey(reordered));
  {
    auto s = StateStore::Open(dir.path());
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(s->Get(BlockKey(block)).registered);
    ASSERT_TRUE(s->Put(BlockKey(block), {"u", "00ab", true, 42}).ok());
  }
  EXPECT_EQ(FileMode(dir.path() / "registration.json"), 0600);
  auto s = StateStore::Open(dir.path());
  ASSERT_TRUE(s.ok());
  BlockRecord r = s->Get(BlockKey(block));
  EXPECT_TRUE(r.registered);
  EXPECT_EQ(r.ak_name_hex, "00ab");
  EXPECT_EQ(r.last_boot_time, 42);
  std::ofstream(dir.path() / "registration.json") << "{garbage";
  auto bad = StateStore::Open(dir.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, errc::state_corrupt);
}

// The agent runs as root: a symlink or a hard link at a state file's
// temporary name (status.json.tmp, registration.json.tmp) made it truncate
// and overwrite the file it points at; a leftover's loose mode was kept.
TEST(StateStore, AFileFoundAtTheTemporaryNameIsReplacedNeverWrittenThrough) {
  TempDir dir;
  const fs::path victim = dir.path() / "victim";
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, dir.path() / "status.json.tmp");
  ASSERT_TRUE(WriteFileAtomic(dir.path() / "status.json", "new\n").ok());
  EXPECT_EQ(testing::ReadFile(victim), "precious");
  EXPECT_EQ(testing::ReadFile(dir.path() / "status.json"), "new\n");
  EXPECT_FALSE(fs::exists(dir.path() / "status.json.tmp"));

  fs::create_hard_link(victim, dir.path() / "registration.json.tmp");
  ::chmod(victim.c_str(), 0644);
  ASSERT_TRUE(WriteFileAtomic(dir.path() / "registration.json", "{}\n").ok());
  EXPECT_EQ(testing::ReadFile(victim), "precious");
  EXPECT_EQ(FileMode(dir.path() / "registration.json"), 0600);

  // A failure leaves no temporary file behind.
  fs::create_directory(dir.path() / "uuid");  // rename() onto a directory fails
  EXPECT_FALSE(WriteFileAtomic(dir.path() / "uuid", "x\n").ok());
  EXPECT_FALSE(fs::exists(dir.path() / "uuid.tmp"));
}

TEST(Sources, BootTimeFromProcStatOrOverride) {
  TempDir dir;
  std::ofstream(dir.path() / "stat") << "cpu 1 2 3\nbtime 1699999999\nprocesses 5\n";
  EXPECT_EQ(*BootTime(0, (dir.path() / "stat").string()), 1699999999);
  EXPECT_EQ(*BootTime(77, (dir.path() / "stat").string()), 77);
  std::ofstream(dir.path() / "bad") << "cpu 1\n";
  EXPECT_FALSE(BootTime(0, (dir.path() / "bad").string()).ok());
  EXPECT_TRUE(BootTime(0).ok());  // the real /proc/stat
}

TEST(Sources, ImaReaderFromOffsetBoundedAndIncremental) {
  TempDir dir;
  fs::path path = dir.path() / "ima";
  std::string line =
      "10 " + std::string(64, 'a') + " ima-ng sha256:" + std::string(64, 'b') + " /x";
  {
    std::ofstream f(path);
    for (int i = 0; i < 5; ++i) f << line << i << "\n";
    f << "10 partial-line-being-written";
  }
  ImaReader r(path.string(), v1::IMA_LOG_FORMAT_ASCII, 2 * (line.size() + 2));
  auto s = r.Read(1);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->available);
  EXPECT_EQ(s->total_entries, 5u) << "an unterminated line is not an entry yet";
  EXPECT_EQ(s->entries.start_offset(), 1u);
  EXPECT_EQ(s->entries.entry_count(), 2u) << "bounded by max_batch_bytes";
  EXPECT_EQ(s->entries.data(), line + "1\n" + line + "2\n");
  EXPECT_EQ(s->entries.template_hash_algorithm(), v1::HASH_ALGORITHM_SHA256);
  EXPECT_EQ(s->entries.format(), v1::IMA_LOG_FORMAT_ASCII);
  // The list grows: the cached position is used and the count follows.
  std::ofstream(path, std::ios::app) << "\n";
  auto t = r.Read(4);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->total_entries, 6u);
  EXPECT_EQ(t->entries.entry_count(), 2u);
  EXPECT_EQ(t->entries.data(), line + "4\n10 partial-line-being-written\n");
  // Asking for older entries again still works (reads from the start).
  auto u = r.Read(0);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->entries.data(), line + "0\n" + line + "1\n");
  // No IMA on the machine: empty, not an error.
  ImaReader none((dir.path() / "missing").string(), v1::IMA_LOG_FORMAT_ASCII, 1024);
  auto n = none.Read(0);
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->available);
  EXPECT_EQ(n->total_entries, 0u);
}

TEST(Sources, ImaReaderCheckpointsAcrossALongList) {
  TempDir dir;
  fs::path path = dir.path() / "ima";
  auto line = [](int i) {
    return "10 " + std::string(40, 'c') + " ima-ng sha1:" + std::string(40, 'd') + " /f" +
           std::to_string(i) + "\n";
  };
  {
    std::ofstream f(path);
    for (int i = 0; i < 3000; ++i) f << line(i);
  }
  ImaReader r(path.string(), v1::IMA_LOG_FORMAT_ASCII, 1 << 20);
  auto all = r.Read(UINT64_MAX);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->total_entries, 3000u);
  EXPECT_EQ(all->entries.entry_count(), 0u);
  auto tail = r.Read(2500);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->total_entries, 3000u);
  ASSERT_EQ(tail->entries.entry_count(), 500u);
  EXPECT_TRUE(tail->entries.data().starts_with(line(2500)));
  EXPECT_EQ(tail->entries.template_hash_algorithm(), v1::HASH_ALGORITHM_SHA1);
  auto head = r.Read(10);
  ASSERT_TRUE(head.ok());
  EXPECT_TRUE(head->entries.data().starts_with(line(10)));
  EXPECT_EQ(head->entries.entry_count(), 2990u);
  std::ofstream(path, std::ios::app) << line(3000);
  auto more = r.Read(3000);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(more->total_entries, 3001u);
  EXPECT_EQ(more->entries.data(), line(3000));
}

TEST(Sources, ImaReaderAsciiLineLimit) {
  TempDir dir;
  fs::path path = dir.path() / "ima";
  std::ofstream(path) << "10 " << std::string(300 * 1024, 'x') << "\n";
  ImaReader r(path.string(), v1::IMA_LOG_FORMAT_ASCII, 1 << 20);
  auto s = r.Read(0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("line 1 is longer than 256 KiB"), std::string::npos)
      << s.error().message;
}

// The kernel's binary list (binary_runtime_measurements), written here byte
// by byte rather than with common/ima, so the reader is checked against the
// layout itself: pcr u32 | template hash | u32 name length | name | u32 data
// length | template data (u32 little-endian, as the verifier parses it).
std::string U32(uint32_t v) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
  return out;
}

std::string ImaNgRecord(const std::string& path, char fill, size_t hash_size = 20) {
  std::string dng = std::string("sha256:") + '\0' + std::string(32, fill);
  std::string nng = path + '\0';
  std::string data =
      U32(static_cast<uint32_t>(dng.size())) + dng + U32(static_cast<uint32_t>(nng.size())) + nng;
  return U32(10) + std::string(hash_size, fill) + U32(6) + "ima-ng" +
         U32(static_cast<uint32_t>(data.size())) + data;
}

// Names the ascii list cannot carry (issue 16): a newline, a space, a byte
// that is not UTF-8, a path of 4000 bytes.
std::vector<std::string> HardPathRecords() {
  return {ImaNgRecord("boot_aggregate", 'a'),
          ImaNgRecord("/tmp/two\nlines", 'b'),
          ImaNgRecord("/usr/bin/with space", 'c'),
          ImaNgRecord(std::string("/opt/\xff") + "bin", 'd'),
          ImaNgRecord("/" + std::string(3999, 'p'), 'e'),
          ImaNgRecord("/usr/bin/last", 'f')};
}

TEST(Sources, ImaReaderBinaryCarriesAnyPathBytes) {
  TempDir dir;
  fs::path path = dir.path() / "binary_runtime_measurements";
  const std::vector<std::string> rec = HardPathRecords();
  ASSERT_GT(rec[4].size(), 4000u);
  const std::string next = ImaNgRecord("/usr/bin/next", 'g');
  {
    std::ofstream f(path, std::ios::binary);
    for (const auto& r : rec) f << r;
    f << next.substr(0, 40);  // the kernel is still writing this record
  }
  // Room for two short records but not for the 4000-byte path beside one.
  ImaReader r(path.string(), v1::IMA_LOG_FORMAT_BINARY, rec[1].size() + rec[2].size() + 1);
  auto s = r.Read(1);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->available);
  EXPECT_EQ(s->total_entries, 6u) << "a partial record is not an entry yet";
  EXPECT_EQ(s->entries.format(), v1::IMA_LOG_FORMAT_BINARY);
  EXPECT_EQ(s->entries.template_hash_algorithm(), v1::HASH_ALGORITHM_SHA1);
  EXPECT_EQ(s->entries.start_offset(), 1u);
  ASSERT_EQ(s->entries.entry_count(), 2u) << "bounded by max_batch_bytes, whole records";
  EXPECT_EQ(s->entries.data(), rec[1] + rec[2]);
  auto t = r.Read(3);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->entries.entry_count(), 1u);
  EXPECT_EQ(t->entries.data(), rec[3]);
  // A record larger than the batch bound still goes, alone.
  auto u = r.Read(4);
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->entries.entry_count(), 1u);
  EXPECT_EQ(u->entries.data(), rec[4]);
  // The record is complete: it counts and is sent.
  std::ofstream(path, std::ios::binary | std::ios::app) << next.substr(40);
  auto v = r.Read(5);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->total_entries, 7u);
  EXPECT_EQ(v->entries.entry_count(), 2u);
  EXPECT_EQ(v->entries.data(), rec[5] + next);
  auto end = r.Read(7);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->entries.entry_count(), 0u);
  EXPECT_TRUE(end->entries.data().empty());
  // A big bound: everything from 0 in one evidence.
  ImaReader all(path.string(), v1::IMA_LOG_FORMAT_BINARY, 1 << 20);
  auto w = all.Read(0);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->entries.entry_count(), 7u);
  std::string whole;
  for (const auto& x : rec) whole += x;
  EXPECT_EQ(w->entries.data(), whole + next);
  // The gateway's limit for one evidence (its challenge's max_evidence_bytes)
  // bounds a part further, never beyond the configured bound.
  auto x = all.Read(0, rec[0].size() + rec[1].size());
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->entries.entry_count(), 2u);
  EXPECT_EQ(x->total_entries, 7u);
  auto y = r.Read(1, 1 << 20);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->entries.entry_count(), 2u) << "the reader's own bound still holds";
}

TEST(Sources, ImaReaderBinaryCheckpointsAndTemplates) {
  TempDir dir;
  fs::path path = dir.path() / "binary_runtime_measurements";
  auto rec = [](int i) { return ImaNgRecord("/f\n" + std::to_string(i), static_cast<char>(i)); };
  // The legacy "ima" template has no data length: 20-byte digest, u32
  // name length, name.
  const std::string legacy =
      U32(10) + std::string(20, 'h') + U32(3) + "ima" + std::string(20, 'i') + U32(9) + "/bin/bash";
  {
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 3000; ++i) f << (i == 1500 ? legacy : rec(i));
  }
  ImaReader r(path.string(), v1::IMA_LOG_FORMAT_BINARY, 1 << 20);
  auto count = r.Read(UINT64_MAX);
  ASSERT_TRUE(count.ok()) << count.error().message;
  EXPECT_EQ(count->total_entries, 3000u);
  EXPECT_EQ(count->entries.entry_count(), 0u);
  auto tail = r.Read(2500);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->entries.entry_count(), 500u);
  EXPECT_TRUE(tail->entries.data().starts_with(rec(2500)));
  EXPECT_TRUE(tail->entries.data().ends_with(rec(2999)));
  auto mid = r.Read(1500);
  ASSERT_TRUE(mid.ok());
  EXPECT_TRUE(mid->entries.data().starts_with(legacy + rec(1501)));
  auto head = r.Read(10);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->entries.entry_count(), 2990u);
  EXPECT_TRUE(head->entries.data().starts_with(rec(10)));
  std::ofstream(path, std::ios::binary | std::ios::app) << rec(3000);
  auto more = r.Read(3000);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(more->total_entries, 3001u);
  EXPECT_EQ(more->entries.data(), rec(3000));
  // Newer kernels' per-bank lists: the file name gives the template hash size.
  fs::path sha256 = dir.path() / "binary_runtime_measurements_sha256";
  std::ofstream(sha256, std::ios::binary)
      << ImaNgRecord("/a", 'a', 32) << ImaNgRecord("/b", 'b', 32);
  ImaReader r256(sha256.string(), v1::IMA_LOG_FORMAT_BINARY, 1 << 20);
  auto s = r256.Read(0);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->entries.entry_count(), 2u);
  EXPECT_EQ(s->entries.template_hash_algorithm(), v1::HASH_ALGORITHM_SHA256);
}

TEST(Sources, ImaReaderBinaryRejectsAbsurdLengths) {
  TempDir dir;
  const std::string good = ImaNgRecord("/x", 'x');
  auto read = [&](const std::string& bytes) {
    fs::path path = dir.path() / "binary_runtime_measurements";
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    ImaReader r(path.string(), v1::IMA_LOG_FORMAT_BINARY, 1 << 20);
    return r.Read(0);
  };
  // Template data of 2 GiB announced: an error, not an allocation (and not
  // "partial, wait for more").
  std::string huge = good + U32(10) + std::string(20, 'y') + U32(6) + "ima-ng" + U32(0x7fffffff);
  auto a = read(huge);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("entry 1"), std::string::npos) << a.error().message;
  EXPECT_NE(a.error().message.find("larger than the verifier takes"), std::string::npos)
      << a.error().message;
  // A record the verifier would refuse (template data over ima::Limits'
  // 64 KiB) that is really there is refused the same way, not sent.
  auto b = read(ImaNgRecord("/" + std::string(70 * 1024, 'z'), 'z'));
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("entry 0"), std::string::npos) << b.error().message;
  // A template name of 1 MiB, and a legacy name past the kernel's 255 bytes.
  auto c = read(good + U32(10) + std::string(20, 'y') + U32(1 << 20));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("template name"), std::string::npos) << c.error().message;
  auto d = read(U32(10) + std::string(20, 'h') + U32(3) + "ima" + std::string(20, 'i') + U32(4096));
  ASSERT_FALSE(d.ok());
  // An ascii list read as binary fails at once instead of being sent.
  auto e = read("10 " + std::string(40, '0') + " ima-ng sha1:" + std::string(40, '0') + " /x\n");
  ASSERT_FALSE(e.ok());
  // A header cut short at the end is a record still being written.
  auto f = read(good + good.substr(0, 10));
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->total_entries, 1u);
}

TEST(Sources, ImaLogFormatFromConfig) {
  auto parse = [](const std::string& text) {
    auto file = ConfigFile::Parse(text + "\n[[servers]]\nverifiers = [\"g\"]\n", "agent.toml");
    if (!file.ok()) return Result<AgentConfig>(file.error());
    return ParseAgentConfig(*file);
  };
  auto d = parse("");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->ima_log_format, "binary");
  EXPECT_EQ(d->ima_log, "/sys/kernel/security/ima/binary_runtime_measurements");
  auto a = parse("ima_log_format = \"ascii\"");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->ima_log, "/sys/kernel/security/ima/ascii_runtime_measurements");
  auto b = parse("ima_log_format = \"binary\"\nima_log = \"/lab/binary_runtime_measurements\"");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->ima_log, "/lab/binary_runtime_measurements");
  // Configurations from before ima_log_format: ima_log named the ascii list.
  auto old = parse("ima_log = \"/tmp/ima.txt\"");
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ(old->ima_log_format, "ascii");
  auto bin = parse("ima_log = \"/sys/kernel/security/ima/binary_runtime_measurements_sha256\"");
  ASSERT_TRUE(bin.ok()) << bin.error().message;
  EXPECT_EQ(bin->ima_log_format, "binary");
  // Strict: unknown formats, and a format that contradicts the kernel's file name.
  for (const char* bad :
       {"ima_log_format = \"Binary\"", "ima_log_format = \"\"", "ima_log_format = 1",
        "ima_log_format = \"binary\"\nima_log = "
        "\"/sys/kernel/security/ima/ascii_runtime_measurements\"",
        "ima_log_format = \"ascii\"\nima_log = \"/x/binary_runtime_measurements\""}) {
    auto e = parse(bad);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_NE(e.error().message.find("ima_log"), std::string::npos) << e.error().message;
  }
}

TEST(Endpoints, ConnectionFailuresFailOverWithinTheBlock) {
  TempDir dir;
  testing::TestPki pki(dir.path());
  testing::FakeBackend be(pki, "gw");
  AgentConfig config;
  config.tls.ca_file = pki.ca_cert().string();
  config.connect_timeout_ms = 2000;
  std::vector<ServerAddress> addrs = {
      *ParseServerAddress("https://127.0.0.1:" + std::to_string(testing::FreePort()), 1),
      *ParseServerAddress("https://127.0.0.1:" + std::to_string(testing::FreePort()), 1),
      *ParseServerAddress(be.url(), 1)};
  // Seeds whose first pick is a dead address, so the failover is exercised.
  int exercised = 0;
  for (uint64_t seed = 0; seed < 20 && exercised < 3; ++seed) {
    std::mt19937_64 rng(seed);
    Endpoints ep(addrs, config, &rng);
    if (ep.current_url() == be.url()) continue;
    ++exercised;
    auto r = ep.Post("/v1/agents/x/challenges", "application/x-protobuf", "");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 400);  // reached the live server (the body is not a ChallengeRequest)
    EXPECT_EQ(ep.current_url(), be.url()) << "sticks to the address that answered";
  }
  EXPECT_EQ(exercised, 3);
  // Every address dead: a connection failure, for the caller's backoff.
  std::mt19937_64 rng(1);
  Endpoints dead({addrs[0], addrs[1]}, config, &rng);
  auto r = dead.Post("/x", "text/plain", "");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(httpclient::IsConnectionFailure(r.error())) << r.error().message;
}

TEST(AgentTpm, QuotesSelectionsAndRefusesLongNonces) {
  testing::Swtpm tpm;
  TempDir dir;
  auto t = AgentTpm::Open({tpm.tcti(), "ecc", "ecc", dir.path() / "ak.key"});
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_FALSE((*t)->active_banks().empty());
  EXPECT_EQ((*t)->signature_scheme(), v1::SIGNATURE_SCHEME_ECDSA);
  google::protobuf::RepeatedPtrField<v1::PcrSelection> sel;
  auto* s = sel.Add();
  s->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  s->add_pcrs(0);
  s->add_pcrs(10);
  auto q = (*t)->Quote(Bytes(64, 7), sel);
  ASSERT_TRUE(q.ok()) << q.error().message;
  ASSERT_EQ(q->pcrs_size(), 1);
  EXPECT_EQ(q->pcrs(0).values().size(), 2u);
  auto long_nonce = (*t)->Quote(Bytes(65, 7), sel);
  ASSERT_FALSE(long_nonce.ok());
  EXPECT_EQ(long_nonce.error().code, errc::invalid_challenge);
  s->add_pcrs(24);
  auto bad_pcr = (*t)->Quote(Bytes(8, 1), sel);
  ASSERT_FALSE(bad_pcr.ok());
  EXPECT_EQ(bad_pcr.error().code, errc::invalid_challenge);
}

TEST(AgentTpm, ReadsTheEkCertificateWhenProvisionedAndKeepsTheAk) {
  testing::Swtpm tpm(testing::Swtpm::Options{.ek_cert = true});
  TempDir dir;
  Bytes ak_name;
  {
    auto t = AgentTpm::Open({tpm.tcti(), "rsa", "rsa", dir.path() / "ak.key"});
    ASSERT_TRUE(t.ok()) << t.error().message;
    ASSERT_FALSE((*t)->ek_cert().empty());
    EXPECT_EQ((*t)->ek_cert()[0], 0x30) << "DER SEQUENCE";
    EXPECT_EQ((*t)->signature_scheme(), v1::SIGNATURE_SCHEME_RSASSA);
    ak_name = (*t)->ak_name();
  }
  tpm.Restart();  // a reboot: transient handles gone, the saved AK is reloaded
  auto t = AgentTpm::Open({tpm.tcti(), "rsa", "rsa", dir.path() / "ak.key"});
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ((*t)->ak_name(), ak_name);
}

}  // namespace
}  // namespace attest::agent
