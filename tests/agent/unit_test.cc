// Agent building blocks in process: state files, IMA reading, boot time,
// address failover (deterministic seeds), the TPM side of a quote.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "agent/endpoints.h"
#include "agent/errors.h"
#include "agent/sources.h"
#include "agent/state.h"
#include "agent/tpm.h"
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
    EXPECT_TRUE(ValidUuid(*u)) << *u;
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
  ImaReader r(path.string(), 2 * (line.size() + 2));
  auto s = r.Read(1);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->available);
  EXPECT_EQ(s->total_entries, 5u) << "an unterminated line is not an entry yet";
  EXPECT_EQ(s->entries.start_offset(), 1u);
  EXPECT_EQ(s->entries.entry_count(), 2u) << "bounded by max_batch_bytes";
  EXPECT_EQ(s->entries.data(), line + "1\n" + line + "2\n");
  EXPECT_EQ(s->entries.template_hash_algorithm(), v1::HASH_ALGORITHM_SHA256);
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
  ImaReader none((dir.path() / "missing").string(), 1024);
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
  ImaReader r(path.string(), 1 << 20);
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
