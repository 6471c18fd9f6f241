// The agent follows its challenge token (issue 17.3, review): a gateway that
// binds one PCR selection or UEFI-log request into the token and says another
// in the Challenge message cannot make an honest agent's evidence look short
// or withheld.
#include "agent/binding.h"

#include <gtest/gtest.h>

#include <tss2/tss2_tpm2_types.h>

#include "common/token/token.h"

namespace attest::agent {
namespace {

constexpr char kUuid[] = "0c4d2b1a-7e6f-4a5b-9c8d-1e2f3a4b5c6d";

v1::Challenge Make(const token::Binding& bound, std::initializer_list<uint32_t> asked,
                   bool uefi_asked) {
  auto keys = token::KeySet::FromSecrets({std::string(32, 'k')});
  auto tok = token::Issue(*keys, kUuid, token::Clock::now(), 0, bound);
  EXPECT_TRUE(tok.ok());
  v1::Challenge ch;
  ch.set_token(*tok);
  auto* sel = ch.add_pcr_selection();
  sel->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  for (uint32_t pcr : asked) sel->add_pcrs(pcr);
  ch.set_uefi_log_requested(uefi_asked);
  return ch;
}

constexpr uint32_t kBootAndIma = 0x1ffu | (1u << 10);  // 0-8, 10

TEST(AgentBinding, AChallengeThatSaysWhatItsTokenBindsIsFollowed) {
  auto ch = Make({TPM2_ALG_SHA256, kBootAndIma, true}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 10}, true);
  EXPECT_EQ(SelectionMismatch(ch), std::nullopt);
  EXPECT_TRUE(UefiLogAsked(ch));
}

TEST(AgentBinding, AChallengeAskingForOtherPcrsThanItsTokenIsRefused) {
  // The message leaves out PCR 4 while the token binds it.
  auto ch = Make({TPM2_ALG_SHA256, kBootAndIma, false}, {0, 1, 2, 3, 5, 6, 7, 8, 10}, false);
  auto why = SelectionMismatch(ch);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("token binds mask 0x5ff"), std::string::npos) << *why;
  // Another bank in the message.
  ch = Make({TPM2_ALG_SHA256, kBootAndIma, false}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 10}, false);
  ch.mutable_pcr_selection(0)->set_hash_algorithm(v1::HASH_ALGORITHM_SHA1);
  EXPECT_TRUE(SelectionMismatch(ch).has_value());
}

TEST(AgentBinding, TheTokensUefiLogRequestIsHonouredWhenTheMessageOmitsIt) {
  auto ch = Make({TPM2_ALG_SHA256, kBootAndIma, true}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 10}, false);
  EXPECT_TRUE(UefiLogAsked(ch));
  ch = Make({TPM2_ALG_SHA256, kBootAndIma, false}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 10}, false);
  EXPECT_FALSE(UefiLogAsked(ch));
}

TEST(AgentBinding, AVersion1TokenBindsNothing) {
  v1::Challenge ch;
  ch.set_token(std::string(64, '\x01'));  // not a version-2 token
  ch.add_pcr_selection()->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  EXPECT_EQ(SelectionMismatch(ch), std::nullopt);
  EXPECT_FALSE(UefiLogAsked(ch));
}

}  // namespace
}  // namespace attest::agent
