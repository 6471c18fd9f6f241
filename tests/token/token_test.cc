// The challenge token: layout (versions 2 and 1), round trip, the binding,
// every refusal, key rotation and key files.
#include "common/token/token.h"

#include <gtest/gtest.h>

#include <openssl/hmac.h>

#include <fstream>

#include "tests/harness/util/process.h"

namespace attest::token {
namespace {

using namespace std::chrono_literals;

const std::string kAgent = "d432fbb3-d2f1-4a97-9ef7-75bd81c00000";
const std::string kOther = "d432fbb3-d2f1-4a97-9ef7-75bd81c00001";

std::string Secret(char fill) { return std::string(32, fill); }

KeySet Keys(const std::vector<std::string>& secrets) {
  auto k = KeySet::FromSecrets(secrets);
  EXPECT_TRUE(k.ok()) << k.error().ToString();
  return std::move(k).value();
}

Clock::time_point At(int64_t ms) { return Clock::time_point(std::chrono::milliseconds(ms)); }

// sha256, PCRs 0-7 and 10, UEFI log requested: what a default gateway binds.
const Binding kBind{.pcr_bank = 0x000b, .pcr_mask = 0x0004ff, .uefi_log_requested = true};

// A deterministic random source for tests.
Result<void> Counting(uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(i + 1);
  return Ok();
}

TEST(TokenTest, IsSixtyFourBytesWithTheDocumentedLayout) {
  KeySet keys = Keys({Secret('a')});
  auto t = Issue(keys, kAgent, At(1'700'000'000'123), 4242, kBind, Counting);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  ASSERT_EQ(t->size(), kTokenSize);
  EXPECT_EQ(static_cast<uint8_t>((*t)[0]), kVersion);
  EXPECT_EQ(static_cast<uint8_t>((*t)[1]), keys.current().id);
  auto f = Parse(*t);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->issued_at_ms, 1'700'000'000'123);
  EXPECT_EQ(f->ima_offset, 4242u);
  EXPECT_EQ(static_cast<uint8_t>((*t)[22]), 0x01);  // flags: UEFI log requested
  EXPECT_EQ(static_cast<uint8_t>((*t)[23]), 0x00);  // bank, big-endian: sha256 = 0x000b
  EXPECT_EQ(static_cast<uint8_t>((*t)[24]), 0x0b);
  EXPECT_EQ(static_cast<uint8_t>((*t)[25]), 0x00);  // mask, big-endian: PCRs 0-7, 10
  EXPECT_EQ(static_cast<uint8_t>((*t)[26]), 0x04);
  EXPECT_EQ(static_cast<uint8_t>((*t)[27]), 0xff);
  EXPECT_EQ(static_cast<uint8_t>((*t)[28]), 1);  // random starts at 28
  ASSERT_TRUE(f->binding.has_value());
  EXPECT_EQ(*f->binding, kBind);
}

TEST(TokenTest, VersionOneLayoutStillVerifiesWithoutBinding) {
  KeySet keys = Keys({Secret('a')});
  auto t = IssueV1(keys, kAgent, At(1'700'000'000'123), 4242, Counting);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  ASSERT_EQ(t->size(), kTokenSize);
  EXPECT_EQ(static_cast<uint8_t>((*t)[0]), kVersionV1);
  EXPECT_EQ(static_cast<uint8_t>((*t)[22]), 1);  // random starts at 22 in version 1
  auto f = Parse(*t);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->binding.has_value());
  auto c = Verify(keys, *t, kAgent, At(1'700'000'000'123));
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->version, kVersionV1);
  EXPECT_FALSE(c->binding.has_value());
  EXPECT_EQ(c->ima_offset, 4242u);
  // Its MAC label is version 1's.
  std::string msg = "attest-token-v1";
  msg.push_back(0);
  msg.push_back(static_cast<char>(kAgent.size()));
  msg += kAgent;
  msg += t->substr(0, 32);
  unsigned char mac[32];
  unsigned int len = 0;
  const std::string secret = Secret('a');
  ASSERT_NE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                 reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len),
            nullptr);
  EXPECT_EQ(t->substr(32), std::string(reinterpret_cast<const char*>(mac), 32));
  // A verifier that requires a binding refuses it.
  auto strict = Verify(keys, *t, kAgent, At(1'700'000'000'123), {.require_binding = true});
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error().code, errc::malformed);
  // A version-1 token relabelled as version 2 does not verify (other MAC label).
  std::string relabelled = *t;
  relabelled[0] = 2;
  relabelled[22] = 0;  // flags that parse
  EXPECT_EQ(Verify(keys, relabelled, kAgent, At(1'700'000'000'123)).error().code, errc::bad_mac);
}

TEST(TokenTest, BindingRoundTripsThroughVerify) {
  KeySet keys = Keys({Secret('a')});
  for (const Binding& b :
       {Binding{}, kBind, Binding{.pcr_bank = 0x000c, .pcr_mask = kPcrMaskAll},
        Binding{.pcr_bank = 0x0004, .pcr_mask = 1u << 23, .uefi_log_requested = false}}) {
    auto t = Issue(keys, kAgent, At(1000), 3, b);
    ASSERT_TRUE(t.ok()) << t.error().ToString();
    auto c = Verify(keys, *t, kAgent, At(1000), {.require_binding = true});
    ASSERT_TRUE(c.ok()) << c.error().ToString();
    EXPECT_EQ(c->version, kVersion);
    ASSERT_TRUE(c->binding.has_value());
    EXPECT_EQ(*c->binding, b);
  }
  // PCRs above 23 do not fit the mask.
  EXPECT_EQ(Issue(keys, kAgent, At(1000), 3, Binding{.pcr_bank = 0x000b, .pcr_mask = 1u << 24})
                .error()
                .code,
            errc::malformed);
}

// The attack: a gateway's token altered on the way (or a forger) to ask for
// sha1, fewer PCRs or no UEFI log. Every bit of flags, bank and mask is under
// the MAC.
TEST(TokenTest, TamperedBankMaskOrFlagIsBadMac) {
  KeySet keys = Keys({Secret('a')});
  auto t = Issue(keys, kAgent, At(1000), 0, kBind);
  ASSERT_TRUE(t.ok());
  for (size_t i = 23; i < 28; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = *t;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto r = Verify(keys, bad, kAgent, At(1000));
      ASSERT_FALSE(r.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(r.error().code, errc::bad_mac) << "byte " << i << " bit " << bit;
    }
  }
  std::string sha1 = *t;  // bank 0x000b -> 0x0004 (sha1)
  sha1[24] = 0x04;
  EXPECT_EQ(Verify(keys, sha1, kAgent, At(1000)).error().code, errc::bad_mac);
  std::string no_log = *t;
  no_log[22] = 0;
  EXPECT_EQ(Verify(keys, no_log, kAgent, At(1000)).error().code, errc::bad_mac);
}

TEST(TokenTest, UnknownFlagBitsAreMalformed) {
  KeySet keys = Keys({Secret('a')});
  auto t = Issue(keys, kAgent, At(1000), 0, kBind);
  ASSERT_TRUE(t.ok());
  for (int bit = 1; bit < 8; ++bit) {
    std::string bad = *t;
    bad[22] = static_cast<char>(bad[22] | (1 << bit));
    EXPECT_EQ(Parse(bad).error().code, errc::malformed) << "bit " << bit;
    EXPECT_EQ(Verify(keys, bad, kAgent, At(1000)).error().code, errc::malformed) << "bit " << bit;
  }
}

// Bytes 32..64 are HMAC-SHA256(key, "attest-token-v2" | len(uuid) | uuid |
// bytes 0..32), computed here with OpenSSL's one-shot HMAC(): the key set's
// prepared context must give exactly that.
TEST(TokenTest, MacIsTheDocumentedHmac) {
  KeySet keys = Keys({Secret('a')});
  auto t = Issue(keys, kAgent, At(1'700'000'000'123), 4242, kBind, Counting);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  std::string msg = "attest-token-v2";
  msg.push_back(0);
  msg.push_back(static_cast<char>(kAgent.size()));
  msg += kAgent;
  msg += t->substr(0, 32);
  unsigned char mac[32];
  unsigned int len = 0;
  const std::string secret = Secret('a');
  ASSERT_NE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                 reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len),
            nullptr);
  ASSERT_EQ(len, 32u);
  EXPECT_EQ(t->substr(32), std::string(reinterpret_cast<const char*>(mac), 32));
}

TEST(TokenTest, VerifiesAndReturnsClaims) {
  KeySet keys = Keys({Secret('a')});
  auto t = Issue(keys, kAgent, At(1'000'000), 7, kBind);
  ASSERT_TRUE(t.ok());
  auto c = Verify(keys, *t, kAgent, At(1'000'000 + 5'000), {.ttl = 60s});
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->issued_at, At(1'000'000));
  EXPECT_EQ(c->ima_offset, 7u);
  EXPECT_EQ(c->key_id, keys.current().id);
}

TEST(TokenTest, TwoTokensDiffer) {
  KeySet keys = Keys({Secret('a')});
  auto a = Issue(keys, kAgent, At(1), 0, kBind);
  auto b = Issue(keys, kAgent, At(1), 0, kBind);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST(TokenTest, RefusesMalformed) {
  KeySet keys = Keys({Secret('a')});
  auto t = Issue(keys, kAgent, At(1000), 0, kBind);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(Verify(keys, "", kAgent, At(1000)).error().code, errc::malformed);
  EXPECT_EQ(Verify(keys, t->substr(0, 63), kAgent, At(1000)).error().code, errc::malformed);
  EXPECT_EQ(Verify(keys, *t + "x", kAgent, At(1000)).error().code, errc::malformed);
  for (int v : {0, 3, 255}) {
    std::string other = *t;
    other[0] = static_cast<char>(v);
    EXPECT_EQ(Verify(keys, other, kAgent, At(1000)).error().code, errc::malformed) << v;
  }
}

TEST(TokenTest, RefusesEveryAlteredByte) {
  KeySet keys = Keys({Secret('a')});
  auto t = Issue(keys, kAgent, At(1000), 5, kBind);
  ASSERT_TRUE(t.ok());
  for (size_t i = 2; i < kTokenSize; ++i) {
    if (i >= 18 && i < 22) continue;  // the agent tag: see OtherAgent
    std::string bad = *t;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto r = Verify(keys, bad, kAgent, At(1000));
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_EQ(r.error().code, errc::bad_mac) << "byte " << i;
  }
  std::string bad = *t;
  bad[1] = static_cast<char>(bad[1] ^ 0x01);
  EXPECT_EQ(Verify(keys, bad, kAgent, At(1000)).error().code, errc::unknown_key);
}

TEST(TokenTest, RefusesAnotherAgentsToken) {
  KeySet keys = Keys({Secret('a')});
  auto t = Issue(keys, kOther, At(1000), 0, kBind);
  ASSERT_TRUE(t.ok());
  auto r = Verify(keys, *t, kAgent, At(1000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::other_agent);
  EXPECT_TRUE(Verify(keys, *t, kOther, At(1000)).ok());
}

TEST(TokenTest, RefusesAForgedTokenWithTheRightTag) {
  KeySet keys = Keys({Secret('a')});
  KeySet forger = Keys({Secret('a').substr(0, 31) + "b"});
  // Same key id by construction of the forger's key set.
  auto forged_set = KeySet::Create({Key{keys.current().id, forger.current().secret}});
  ASSERT_TRUE(forged_set.ok());
  auto t = Issue(*forged_set, kAgent, At(1000), 0, kBind);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(Verify(keys, *t, kAgent, At(1000)).error().code, errc::bad_mac);
}

TEST(TokenTest, ExpiryAndSkew) {
  KeySet keys = Keys({Secret('a')});
  auto t = Issue(keys, kAgent, At(100'000), 0, kBind);
  ASSERT_TRUE(t.ok());
  VerifyOptions o{.ttl = 10s, .max_skew = 2s};
  EXPECT_TRUE(Verify(keys, *t, kAgent, At(110'000), o).ok());  // exactly the TTL
  EXPECT_EQ(Verify(keys, *t, kAgent, At(110'001), o).error().code, errc::expired);
  EXPECT_TRUE(Verify(keys, *t, kAgent, At(98'000), o).ok());  // 2 s early: skew
  EXPECT_EQ(Verify(keys, *t, kAgent, At(97'999), o).error().code, errc::not_yet_valid);
  // Extreme clocks do not overflow.
  EXPECT_EQ(Verify(keys, *t, kAgent, Clock::time_point::max(), o).error().code, errc::expired);
  EXPECT_EQ(Verify(keys, *t, kAgent, Clock::time_point::min(), o).error().code,
            errc::not_yet_valid);
}

TEST(TokenTest, RotationKeepsThePreviousKeyUntilRemoved) {
  KeySet before = Keys({Secret('a')});
  KeySet rotated = Keys({Secret('b'), Secret('a')});
  KeySet after = Keys({Secret('b')});
  auto old_token = Issue(before, kAgent, At(1000), 0, kBind);
  ASSERT_TRUE(old_token.ok());
  EXPECT_TRUE(Verify(rotated, *old_token, kAgent, At(1000)).ok());
  EXPECT_EQ(Verify(after, *old_token, kAgent, At(1000)).error().code, errc::unknown_key);
  auto new_token = Issue(rotated, kAgent, At(1000), 0, kBind);
  ASSERT_TRUE(new_token.ok());
  EXPECT_EQ(static_cast<uint8_t>((*new_token)[1]), DeriveKeyId(Secret('b')));
  EXPECT_TRUE(Verify(after, *new_token, kAgent, At(1000)).ok());
  EXPECT_EQ(Verify(before, *new_token, kAgent, At(1000)).error().code, errc::unknown_key);
}

TEST(TokenTest, KeySetRefusesShortAndClashingKeys) {
  EXPECT_EQ(KeySet::FromSecrets({}).error().code, errc::invalid_key);
  EXPECT_EQ(KeySet::FromSecrets({std::string(31, 'x')}).error().code, errc::invalid_key);
  EXPECT_EQ(KeySet::Create({Key{1, Secret('a')}, Key{1, Secret('b')}}).error().code,
            errc::invalid_key);
  EXPECT_EQ(KeySet::FromSecrets({Secret('a'), Secret('a')}).error().code, errc::invalid_key);
}

TEST(TokenTest, LoadsHexKeyFiles) {
  testing::TempDir dir("token-test");
  auto write = [&](const std::string& name, const std::string& text) {
    auto p = dir.path() / name;
    std::ofstream(p) << text;
    return p.string();
  };
  std::string hex;
  for (int i = 0; i < 32; ++i) hex += "a5";
  auto current = write("current", hex + "\n");
  auto previous =
      write("previous", " 0102030405060708090a0b0c0d0e0f10\n1112131415161718191a1b1c1d1e1f20 ");
  auto keys = KeySet::LoadFiles({current, previous});
  ASSERT_TRUE(keys.ok()) << keys.error().ToString();
  EXPECT_EQ(keys->size(), 2u);
  EXPECT_EQ(keys->current().secret, std::string(32, static_cast<char>(0xa5)));
  EXPECT_EQ(keys->current().id, DeriveKeyId(keys->current().secret));

  auto short_key = write("short", "abcd");
  auto not_hex = write("nothex", std::string(64, 'z'));
  auto odd = write("odd", hex + "a");
  for (const auto& bad : {short_key, not_hex, odd, (dir.path() / "missing").string()}) {
    auto r = KeySet::LoadFiles({bad});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, errc::invalid_key);
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace attest::token
