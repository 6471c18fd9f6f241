// Parsing of Keylime's IMA test lists, template hash verification, the
// binary format round trip and the policy generator.
#include <gtest/gtest.h>

#include "common/ima/replay.h"
#include "tests/ima/test_util.h"

namespace attest::ima {
namespace {

using test::ImaDir;
using test::LoadLog;

std::vector<std::filesystem::path> AllLists() {
  std::vector<std::filesystem::path> out;
  for (const char* name : {"ima-log-sha1", "ima-log-sha256",
                           "rust-keylime-ascii_runtime_measurements", "rust-keylime-ima_log.txt"}) {
    out.push_back(ImaDir() / name);
  }
  for (const char* name : {"measurements.log", "signatures.log", "combined.log", "keyrings.log"}) {
    out.push_back(test::ConformanceDir() / name);
  }
  return out;
}

ReplayOutcome ReplayAll(const Log& log, const ReplayOptions& opt, ReplayState* state = nullptr) {
  HashAlg banks[] = {HashAlg::kSha1, HashAlg::kSha256};
  ReplayState local = ReplayState::Initial(banks);
  return Replay(state ? *state : local, log.entries, opt);
}

TEST(ImaLog, EveryTestListParsesWithValidTemplateHashes) {
  for (const auto& path : AllLists()) {
    SCOPED_TRACE(path.string());
    Log log = LoadLog(path);
    ASSERT_FALSE(log.entries.empty());
    EXPECT_EQ(log.template_hash_alg, HashAlg::kSha1);
    ReplayOutcome out = ReplayAll(log, {});
    for (const auto& f : out.failures) ADD_FAILURE() << f.id << " @" << f.entry << " " << f.path;
  }
}

TEST(ImaLog, LargeListHasExpectedShape) {
  Log log = LoadLog(ImaDir() / "rust-keylime-ascii_runtime_measurements");
  ASSERT_EQ(log.entries.size(), 826u);
  EXPECT_EQ(log.entries[0].path(), "boot_aggregate");
  EXPECT_EQ(log.entries[1].path(), "/init");
  EXPECT_EQ(log.entries[1].algo(), "sha1");
  EXPECT_EQ(ToHex(log.entries[1].file_digest()), "19f13b42c2745066347e76454788c0fe083643f3");
}

TEST(ImaLog, GeneratedPolicyAcceptsItsLog) {
  for (const auto& path : AllLists()) {
    SCOPED_TRACE(path.string());
    Log log = LoadLog(path);
    RuntimePolicy generated = GeneratePolicy(log);
    // Through JSON and back, as an operator would store it.
    auto policy = RuntimePolicy::Parse(generated.ToJson());
    ASSERT_TRUE(policy) << policy.error().message;
    ReplayOptions opt;
    opt.policy = &*policy;
    ReplayOutcome out = ReplayAll(log, opt);
    for (const auto& f : out.failures) ADD_FAILURE() << f.id << " @" << f.entry << " " << f.path;
  }
}

TEST(ImaLog, EntryOutsidePolicyFailsWithIdAndIndex) {
  Log log = LoadLog(ImaDir() / "rust-keylime-ascii_runtime_measurements");
  // Pick an entry from index 100 on whose path occurs once, and leave it out
  // of the policy.
  size_t victim = 100;
  auto count = [&](std::string_view p) {
    size_t n = 0;
    for (const auto& e : log.entries) n += e.path() == p;
    return n;
  };
  while (count(log.entries[victim].path()) != 1) ++victim;
  Log shorter = log;
  shorter.entries.erase(shorter.entries.begin() + static_cast<long>(victim));
  auto policy = RuntimePolicy::Parse(GeneratePolicy(shorter).ToJson()).value();
  ReplayOptions opt;
  opt.policy = &policy;
  ReplayOutcome out = ReplayAll(log, opt);
  ASSERT_EQ(out.failures.size(), 1u);
  EXPECT_EQ(out.failures[0].id, "ima.validation.ima-ng.not_in_allowlist");
  EXPECT_EQ(out.failures[0].entry, victim);
  EXPECT_EQ(out.failures[0].path, log.entries[victim].path());
}

TEST(ImaLog, UnknownPathFailsNotInAllowlist) {
  Log log = LoadLog(test::ConformanceDir() / "measurements.log");
  RuntimePolicy policy = GeneratePolicy(log);
  auto extra = MakeEntry(Template::kImaNg, "sha256", std::vector<uint8_t>(32, 7), "/usr/bin/evil");
  ASSERT_TRUE(extra);
  Hasher h;
  extra->template_hash = ComputeTemplateHash(h, HashAlg::kSha1, *extra);
  log.entries.push_back(*extra);
  ReplayOptions opt;
  opt.policy = &policy;
  ReplayOutcome out = ReplayAll(log, opt);
  ASSERT_EQ(out.failures.size(), 1u);
  EXPECT_EQ(out.failures[0].id, "ima.validation.ima-ng.not_in_allowlist");
  EXPECT_EQ(out.failures[0].entry, 3u);
  EXPECT_EQ(out.failures[0].path, "/usr/bin/evil");
}

TEST(ImaLog, TamperedTemplateHashFailsWithIndex) {
  Log log = LoadLog(ImaDir() / "rust-keylime-ascii_runtime_measurements");
  log.entries[417].template_hash.bytes[3] ^= 1;
  ReplayOutcome out = ReplayAll(log, {});
  ASSERT_EQ(out.failures.size(), 1u);
  EXPECT_EQ(out.failures[0].id, "ima.validation.ima_hash");
  EXPECT_EQ(out.failures[0].entry, 417u);
}

TEST(ImaLog, TamperedTemplateDataFailsWithIndex) {
  std::string text = attest::testing::ReadFile(ImaDir() / "ima-log-sha256");
  auto pos = text.find("/data");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, 5, "/date");
  auto log = ParseAscii(text);
  ASSERT_TRUE(log);
  ReplayOutcome out = ReplayAll(*log, {});
  ASSERT_EQ(out.failures.size(), 1u);
  EXPECT_EQ(out.failures[0].id, "ima.validation.ima_hash");
  EXPECT_EQ(out.failures[0].entry, 1u);
}

TEST(ImaLog, ViolationEntryExtendsAllOnes) {
  Log log = LoadLog(ImaDir() / "ima-log-sha1");
  ASSERT_TRUE(log.entries[0].IsViolation());
  HashAlg banks[] = {HashAlg::kSha1};
  ReplayState s = ReplayState::Initial(banks);
  ASSERT_TRUE(Replay(s, std::span(log.entries).first(1), {}).ok());
  Hasher h;
  Digest expect =
      h.Hash2(HashAlg::kSha1, Digest::Filled(20, 0).view(), Digest::Filled(20, 0xff).view());
  EXPECT_EQ(*s.Pcr(HashAlg::kSha1), expect);
  ReplayOptions strict;
  strict.fail_on_tomtou = true;
  ReplayState s2 = ReplayState::Initial(banks);
  auto out = Replay(s2, log.entries, strict);
  ASSERT_EQ(out.failures.size(), 1u);
  EXPECT_EQ(out.failures[0].id, "ima.validation.tomtou");
}

TEST(ImaLog, BinaryRoundTrip) {
  for (const auto& path : AllLists()) {
    SCOPED_TRACE(path.string());
    Log ascii = LoadLog(path);
    std::string bin = WriteBinary(ascii);
    ASSERT_EQ(DetectFormat(bin), Format::kBinary);
    auto back = Parse(bin);
    ASSERT_TRUE(back) << back.error().message;
    ASSERT_EQ(back->entries.size(), ascii.entries.size());
    for (size_t i = 0; i < ascii.entries.size(); ++i) {
      EXPECT_EQ(back->entries[i].data, ascii.entries[i].data) << i;
      EXPECT_EQ(back->entries[i].template_hash, ascii.entries[i].template_hash) << i;
      EXPECT_EQ(back->entries[i].path(), ascii.entries[i].path()) << i;
      EXPECT_EQ(back->entries[i].tmpl, ascii.entries[i].tmpl) << i;
    }
    EXPECT_EQ(WriteAscii(*back), WriteAscii(ascii));
    EXPECT_TRUE(ReplayAll(*back, {}).ok());
  }
}

// File names the ascii list cannot carry (issue 16): the kernel writes a
// path into the ascii list as is, so a newline splits the entry. The binary
// list carries any bytes; these paths must round-trip and be judged by
// their digest alone.
std::vector<std::string> HardPaths() {
  return {"/tmp/two\nlines", "/usr/bin/with space", std::string("/opt/\xff") + "bin",
          "/" + std::string(3999, 'p')};
}

Log HardPathLog() {
  Log log;
  Hasher h;
  uint8_t fill = 1;
  for (const std::string& path : HardPaths()) {
    auto e = MakeEntry(Template::kImaNg, "sha256", std::vector<uint8_t>(32, fill++), path);
    if (!e) throw std::runtime_error(e.error().message);
    e->template_hash = ComputeTemplateHash(h, HashAlg::kSha1, *e);
    log.entries.push_back(std::move(*e));
  }
  return log;
}

TEST(ImaLog, BinaryListCarriesAnyPathBytes) {
  Log log = HardPathLog();
  ASSERT_EQ(log.entries[3].path().size(), 4000u);
  std::string bin = WriteBinary(log);
  auto back = ParseBinary(bin);
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->entries.size(), HardPaths().size());
  for (size_t i = 0; i < back->entries.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(back->entries[i].path(), HardPaths()[i]);
    EXPECT_EQ(back->entries[i].algo(), "sha256");
    EXPECT_EQ(ToHex(back->entries[i].file_digest()), ToHex(log.entries[i].file_digest()));
    EXPECT_EQ(back->entries[i].template_hash, log.entries[i].template_hash);
    EXPECT_EQ(back->entries[i].data, log.entries[i].data);
  }
  EXPECT_TRUE(ReplayAll(*back, {}).ok());
  // The same entries in the ascii format: the newline splits an entry, so
  // the ascii list cannot be what the agent sends by default.
  EXPECT_FALSE(ParseAscii(WriteAscii(log)));
}

TEST(ImaLog, HardPathsAreJudgedByTheirDigest) {
  auto parsed = ParseBinary(WriteBinary(HardPathLog()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  const Log& log = *parsed;
  // Listed: every entry passes, also through the policy's JSON (a path that
  // is not UTF-8 cannot be a JSON string, so that one is checked unserialised).
  RuntimePolicy all = GeneratePolicy(log);
  ReplayOptions opt;
  opt.policy = &all;
  ReplayOutcome out = ReplayAll(log, opt);
  for (const auto& f : out.failures) ADD_FAILURE() << f.id << " @" << f.entry;
  Log utf8 = log;
  utf8.entries.erase(utf8.entries.begin() + 2);
  auto json = RuntimePolicy::Parse(GeneratePolicy(utf8).ToJson());
  ASSERT_TRUE(json) << json.error().message;
  ASSERT_NE(json->FindDigests("/tmp/two\nlines"), nullptr);
  opt.policy = &*json;
  out = ReplayAll(utf8, opt);
  for (const auto& f : out.failures) ADD_FAILURE() << f.id << " @" << f.entry;
  // Not listed: exactly that entry fails, with its path.
  for (size_t victim = 0; victim < log.entries.size(); ++victim) {
    SCOPED_TRACE(victim);
    Log others = log;
    others.entries.erase(others.entries.begin() + static_cast<long>(victim));
    RuntimePolicy policy = GeneratePolicy(others);
    opt.policy = &policy;
    out = ReplayAll(log, opt);
    ASSERT_EQ(out.failures.size(), 1u);
    EXPECT_EQ(out.failures[0].id, "ima.validation.ima-ng.not_in_allowlist");
    EXPECT_EQ(out.failures[0].entry, victim);
    EXPECT_EQ(out.failures[0].path, HardPaths()[victim]);
  }
  // Listed under another digest: the digest decides, not the name.
  RuntimePolicy wrong;
  for (const Entry& e : log.entries) wrong.AddDigest(e.path(), std::vector<uint8_t>(32, 0xee));
  opt.policy = &wrong;
  out = ReplayAll(log, opt);
  ASSERT_EQ(out.failures.size(), log.entries.size());
  for (const auto& f : out.failures) EXPECT_EQ(f.id, "ima.validation.ima-ng.runtime_policy_hash");
}

TEST(ImaLog, LegacyImaTemplateRoundTrip) {
  std::vector<uint8_t> digest(20, 0xab);
  auto e = MakeEntry(Template::kIma, "", digest, "/bin/bash");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data.size(), 20u + 256u);
  Hasher h;
  e->template_hash = ComputeTemplateHash(h, HashAlg::kSha1, *e);
  Log log;
  log.entries.push_back(*e);
  for (const std::string& text : {WriteAscii(log), WriteBinary(log)}) {
    auto back = Parse(text);
    ASSERT_TRUE(back) << back.error().message;
    ASSERT_EQ(back->entries.size(), 1u);
    EXPECT_EQ(back->entries[0].data, e->data);
    EXPECT_EQ(back->entries[0].path(), "/bin/bash");
    EXPECT_TRUE(ReplayAll(*back, {}).ok());
  }
}

TEST(ImaLog, Sha256TemplateBankInferredFromLength) {
  Log log = LoadLog(ImaDir() / "ima-log-sha256");
  Hasher h;
  for (auto& e : log.entries) e.template_hash = ComputeTemplateHash(h, HashAlg::kSha256, e);
  std::string text = WriteAscii(log);
  auto back = ParseAscii(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->template_hash_alg, HashAlg::kSha256);
  EXPECT_TRUE(ReplayAll(*back, {}).ok());
  // A caller-fixed bank that disagrees with the column length is an error.
  auto wrong = ParseAscii(text, HashAlg::kSha1);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("line 1"), std::string::npos);
}

TEST(ImaLog, MalformedInputsAreErrors) {
  const char* bad[] = {
      "10 abc ima-ng sha1:00 /x\n",
      "10 0000000000000000000000000000000000000000 ima-foo sha1:00 /x\n",
      "10 0000000000000000000000000000000000000000 ima-ng sha1:0g /x\n",
      "10 0000000000000000000000000000000000000000 ima-ng\n",
      "x0 0000000000000000000000000000000000000000 ima-ng sha1:00 /x\n",
      "10 0000000000000000000000000000000000000000 ima-sig sha1:00 /x zz\n",
  };
  for (const char* text : bad) EXPECT_FALSE(Parse(text)) << text;
  // Binary: a template-data length beyond the input.
  Log log = LoadLog(ImaDir() / "ima-log-sha1");
  std::string bin = WriteBinary(log);
  EXPECT_FALSE(Parse(bin.substr(0, bin.size() - 1)));
  std::string huge = bin;
  huge[4 + 20 + 4 + 6 + 3] = '\x7f';  // template data length high byte
  EXPECT_FALSE(Parse(huge));
}

TEST(ImaLog, AllowlistConvertsToPolicy) {
  std::string text = attest::testing::ReadFile(ImaDir() / "allowlist-sha256");
  auto policy = RuntimePolicy::FromAllowlist(text);
  ASSERT_TRUE(policy) << policy.error().message;
  // sha256sum-style lines name files relative to where they were hashed.
  ASSERT_NE(policy->FindDigests("data"), nullptr);
  Log log = LoadLog(ImaDir() / "ima-log-sha256");
  EXPECT_TRUE(policy->FindDigests("data")->Contains(log.entries[1].file_digest()));
  // Rooted at "/", it accepts the list's /data entry; boot_aggregate is not in it.
  auto rooted = RuntimePolicy::FromAllowlist("# comment\n" + text.substr(0, 66) + "/data\n");
  ASSERT_TRUE(rooted) << rooted.error().message;
  ReplayOptions opt;
  opt.policy = &*rooted;
  ReplayOutcome out = ReplayAll(log, opt);
  ASSERT_EQ(out.failures.size(), 1u);
  EXPECT_EQ(out.failures[0].path, "boot_aggregate");
  EXPECT_EQ(out.failures[0].id, "ima.validation.ima-ng.not_in_allowlist");
  EXPECT_FALSE(RuntimePolicy::FromAllowlist("zz /x\n"));
}

TEST(ImaLog, KeylimePolicyFilesParse) {
  for (const auto& dir : {ImaDir(), test::ConformanceDir(), test::KeylimeDir() / "policy"}) {
    for (const auto& f : std::filesystem::directory_iterator(dir)) {
      std::string name = f.path().filename().string();
      if (f.path().extension() != ".json" && name.rfind("policy-", 0) != 0) continue;
      SCOPED_TRACE(name);
      auto p = RuntimePolicy::Parse(attest::testing::ReadFile(f.path()));
      ASSERT_TRUE(p) << p.error().message;
    }
  }
  auto p = test::LoadPolicy(test::KeylimeDir() / "policy" / "runtime-policy-test.json");
  ASSERT_NE(p.FindDigests("boot_aggregate"), nullptr);  // "sha256:..." form accepted
  ASSERT_NE(p.FindKeyring(".ima"), nullptr);
}

TEST(ImaPolicy, ExcludesMatchLikePythonReMatch) {
  RuntimePolicy p;
  ASSERT_TRUE(p.SetExcludes({"/tmp/.*", "/var/log", "^/proc/[0-9]+/", "/etc/exact$", ".*\\.pyc$",
                             ".*/__pycache__/", "/opt/ab?c", "/srv/x|/srv/y", "/etc/a\\.conf",
                             "/home/[^/]+/\\.cache/"}));
  EXPECT_TRUE(p.Excluded("/tmp/x"));
  EXPECT_TRUE(p.Excluded("/var/log/messages"));  // re.match: prefix
  EXPECT_TRUE(p.Excluded("/proc/12/status"));
  EXPECT_TRUE(p.Excluded("/etc/exact"));
  EXPECT_FALSE(p.Excluded("/etc/exact2"));
  EXPECT_FALSE(p.Excluded("/proc/self/status"));
  EXPECT_FALSE(p.Excluded("/usr/tmp/x"));
  EXPECT_TRUE(p.Excluded("/usr/lib/python3/x.pyc"));
  EXPECT_FALSE(p.Excluded("/usr/lib/python3/x.pyc.bak"));
  EXPECT_FALSE(p.Excluded("/usr/lib/python3/xpyc"));
  EXPECT_TRUE(p.Excluded("/usr/lib/python3/__pycache__/a"));
  EXPECT_TRUE(p.Excluded("/opt/ac"));  // 'b' is optional: prefix is "/opt/a"
  EXPECT_TRUE(p.Excluded("/opt/abc"));
  EXPECT_FALSE(p.Excluded("/opt/bc"));
  EXPECT_TRUE(p.Excluded("/srv/y/z"));  // alternatives inside one exclude
  EXPECT_TRUE(p.Excluded("/etc/a.conf"));
  EXPECT_FALSE(p.Excluded("/etc/axconf"));
  EXPECT_TRUE(p.Excluded("/home/bob/.cache/x"));
  EXPECT_FALSE(p.Excluded("/home/bob/cache/x"));
  EXPECT_FALSE(p.SetExcludes({"("}));
  EXPECT_FALSE(p.SetExcludes({"(a{100}){100}"}));
  // Linear-time matching: a backtracking matcher would not finish this.
  ASSERT_TRUE(p.SetExcludes({"(a*)*b"}));
  EXPECT_FALSE(p.Excluded(std::string(4000, 'a')));
  EXPECT_FALSE(p.SetExcludes({"(a)\\1"}));  // back-references are refused
  RuntimePolicy none;
  EXPECT_FALSE(none.Excluded("/anything"));
  ASSERT_TRUE(none.SetExcludes({".*"}));
  EXPECT_TRUE(none.Excluded("/anything"));
}

TEST(ImaPolicy, BadPoliciesAreErrors) {
  const char* bad[] = {
      "",
      "[]",
      "{}",
      R"({"meta": {"version": 2}})",
      R"({"meta": {"version": 1}, "digests": {"/a": "abc"}})",
      R"({"meta": {"version": 1}, "digests": {"/a": ["xyz"]}})",
      R"({"meta": {"version": 1}, "excludes": ["("]})",
      R"({"meta": {"version": 1}, "ima": {"log_hash_alg": "md4"}})",
  };
  for (const char* text : bad) EXPECT_FALSE(RuntimePolicy::Parse(text)) << text;
}

}  // namespace
}  // namespace attest::ima
