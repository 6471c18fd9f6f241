// The pure selection check (common/checks/selection): what the policies
// need, a challenge that asks for less (challenge.insufficient_selection),
// a quote that covers less than asked (quote.selection_mismatch), and a
// version-1 token judged by the quote alone.
#include "common/checks/selection.h"

#include <gtest/gtest.h>

#include "common/tpm/marshal.h"

namespace attest::checks {
namespace {

constexpr uint32_t kDefault = 0x0004ff;  // PCRs 0-7 and 10

TPML_PCR_SELECTION Sel(std::initializer_list<std::pair<TPMI_ALG_HASH, uint32_t>> banks) {
  TPML_PCR_SELECTION s{};
  for (const auto& [bank, mask] : banks) {
    auto& e = s.pcrSelections[s.count++];
    e.hash = bank;
    e.sizeofSelect = 3;
    for (int i = 0; i < 3; ++i) e.pcrSelect[i] = static_cast<uint8_t>(mask >> (8 * i));
  }
  return s;
}

SelectionNeeds Full() { return NeedsOf({.measured_boot_bank = TPM2_ALG_SHA256, .ima = true}); }

std::vector<std::string> List(const Failure& f, std::string_view key) {
  for (const auto& d : f.context) {
    if (d.key == key) return std::get<std::vector<std::string>>(d.value);
  }
  return {};
}

TEST(SelectionTest, NeedsFollowThePolicies) {
  EXPECT_TRUE(NeedsOf({}).needs.empty());
  EXPECT_EQ(NeedsOf({}).allowed, DefaultAllowedBanks());
  auto full = Full();
  ASSERT_EQ(full.needs.size(), 2u);
  EXPECT_EQ(full.needs[0].reason, "measured_boot");
  EXPECT_EQ(full.needs[0].pcrs, 0xffu);
  EXPECT_EQ(full.needs[1].reason, "ima");
  EXPECT_EQ(full.needs[1].pcrs, 1u << 10);
  PcrPolicy pcr;
  pcr.allowed[TPM2_ALG_SHA384][14] = {tpm::Bytes(48, 0)};
  auto with_pcr = NeedsOf({.pcr_policy = &pcr});
  ASSERT_EQ(with_pcr.needs.size(), 1u);
  EXPECT_EQ(with_pcr.needs[0].banks, std::vector<TPMI_ALG_HASH>{TPM2_ALG_SHA384});
  EXPECT_EQ(with_pcr.needs[0].pcrs, 1u << 14);
}

TEST(SelectionTest, AnHonestRequestAndQuotePass) {
  auto needs = Full();
  const RequestedSelection asked{TPM2_ALG_SHA256, kDefault};
  EXPECT_FALSE(CheckRequested(needs, asked));
  EXPECT_FALSE(CheckQuoted(needs, asked, Sel({{TPM2_ALG_SHA256, kDefault}})));
  // More PCRs in the asked bank are harmless.
  EXPECT_FALSE(CheckQuoted(needs, asked, Sel({{TPM2_ALG_SHA256, kDefault | (1u << 14)}})));
  // IMA alone can use any accepted bank.
  auto ima = NeedsOf({.ima = true});
  EXPECT_FALSE(CheckRequested(ima, {TPM2_ALG_SHA384, 1u << 10}));
}

TEST(SelectionTest, AChallengeForSha1IsTheGatewaysFault) {
  auto f = CheckRequested(Full(), {TPM2_ALG_SHA1, kDefault});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->event_id, kInsufficientSelection);
  EXPECT_NE(f->Text("message").find("sha1"), std::string::npos);
  // Even for an agent without policies: the quote would fail the bank check.
  EXPECT_TRUE(CheckRequested(NeedsOf({}), {TPM2_ALG_SHA1, kDefault}));
  // Unless the operator accepts sha1.
  EXPECT_FALSE(CheckRequested(NeedsOf({.allowed_banks = {TPM2_ALG_SHA1, TPM2_ALG_SHA256}}),
                              {TPM2_ALG_SHA1, 1u << 10}));
}

TEST(SelectionTest, AChallengeLeavingOutPcrsIsTheGatewaysFault) {
  auto no4 = CheckRequested(Full(), {TPM2_ALG_SHA256, kDefault & ~(1u << 4)});
  ASSERT_TRUE(no4);
  EXPECT_EQ(no4->event_id, kInsufficientSelection);
  EXPECT_EQ(List(*no4, "missing"), std::vector<std::string>{"sha256:4"});
  EXPECT_EQ(List(*no4, "needed_by"), std::vector<std::string>{"measured_boot"});
  auto no10 = CheckRequested(Full(), {TPM2_ALG_SHA256, 0xff});
  ASSERT_TRUE(no10);
  EXPECT_EQ(List(*no10, "missing"), std::vector<std::string>{"sha256:10"});
  EXPECT_EQ(List(*no10, "needed_by"), std::vector<std::string>{"ima"});
  // The reference state's bank: a sha384 challenge cannot verify sha256 digests.
  auto other_bank = CheckRequested(Full(), {TPM2_ALG_SHA384, kDefault});
  ASSERT_TRUE(other_bank);
  EXPECT_EQ(List(*other_bank, "needed_by"), std::vector<std::string>{"measured_boot"});
  // A PCR policy's PCR.
  PcrPolicy pcr;
  pcr.allowed[TPM2_ALG_SHA256][14] = {tpm::Bytes(32, 0)};
  auto no14 = CheckRequested(NeedsOf({.pcr_policy = &pcr}), {TPM2_ALG_SHA256, kDefault});
  ASSERT_TRUE(no14);
  EXPECT_EQ(List(*no14, "missing"), std::vector<std::string>{"sha256:14"});
  // A PCR policy in a bank the verifier does not accept: no challenge helps.
  PcrPolicy sha1;
  sha1.allowed[TPM2_ALG_SHA1][0] = {tpm::Bytes(20, 0)};
  auto never = CheckRequested(NeedsOf({.pcr_policy = &sha1}), {TPM2_ALG_SHA256, kDefault});
  ASSERT_TRUE(never);
  EXPECT_EQ(List(*never, "missing"), std::vector<std::string>{"sha1:0 (bank not accepted)"});
}

TEST(SelectionTest, AQuoteShortOfTheRequestIsTheAgents) {
  auto needs = Full();
  const RequestedSelection asked{TPM2_ALG_SHA256, kDefault};
  auto no4 = CheckQuoted(needs, asked, Sel({{TPM2_ALG_SHA256, kDefault & ~(1u << 4)}}));
  ASSERT_TRUE(no4);
  EXPECT_EQ(no4->event_id, kSelectionMismatch);
  EXPECT_EQ(List(*no4, "missing"), std::vector<std::string>{"sha256:4"});
  EXPECT_EQ(no4->Text("quoted"), "sha256:0-3,5-7,10");
  EXPECT_EQ(no4->Text("requested"), "sha256:0-7,10");
  // Another bank than asked, instead or as well.
  auto sha1 = CheckQuoted(needs, asked, Sel({{TPM2_ALG_SHA1, kDefault}}));
  ASSERT_TRUE(sha1);
  EXPECT_EQ(sha1->event_id, kSelectionMismatch);
  auto both = CheckQuoted(needs, asked, Sel({{TPM2_ALG_SHA256, kDefault}, {TPM2_ALG_SHA1, 0}}));
  ASSERT_TRUE(both);
  EXPECT_EQ(both->event_id, kSelectionMismatch);
  EXPECT_EQ(List(*both, "unrequested_banks"), std::vector<std::string>{"sha1"});
  // Even when the policies need less than was asked: the agent did not do
  // what it was asked.
  auto none = NeedsOf({});
  EXPECT_TRUE(CheckQuoted(none, asked, Sel({{TPM2_ALG_SHA256, 0xff}})));
}

TEST(SelectionTest, AVersionOneTokenIsJudgedByTheQuote) {
  auto needs = Full();
  EXPECT_FALSE(CheckQuoted(needs, std::nullopt, Sel({{TPM2_ALG_SHA256, kDefault}})));
  auto no10 = CheckQuoted(needs, std::nullopt, Sel({{TPM2_ALG_SHA256, 0xff}}));
  ASSERT_TRUE(no10);
  EXPECT_EQ(no10->event_id, kInsufficientSelection);
  EXPECT_EQ(List(*no10, "missing"), std::vector<std::string>{"sha256:10"});
  auto sha1 =
      CheckQuoted(needs, std::nullopt, Sel({{TPM2_ALG_SHA256, kDefault}, {TPM2_ALG_SHA1, 1}}));
  ASSERT_TRUE(sha1);
  EXPECT_EQ(sha1->event_id, kInsufficientSelection);
  EXPECT_EQ(List(*sha1, "banks_not_accepted"), std::vector<std::string>{"sha1"});
}

TEST(SelectionTest, MasksAndTheirText) {
  auto m = MasksOf(Sel({{TPM2_ALG_SHA256, kDefault}, {TPM2_ALG_SHA384, 0}}));
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[TPM2_ALG_SHA256], kDefault);
  EXPECT_EQ(m[TPM2_ALG_SHA384], 0u);  // listed with no PCRs: still a quoted bank
  EXPECT_EQ(FormatMasks(m), "sha256:0-7,10+sha384:");
  EXPECT_EQ(FormatMasks({}), "none");
  EXPECT_EQ(FormatMasks({{TPM2_ALG_SHA256, (1u << 23) | 1u | 4u}}), "sha256:0,2,23");
}

}  // namespace
}  // namespace attest::checks
