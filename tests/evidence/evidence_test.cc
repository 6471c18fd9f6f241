// common/evidence: every limit of the shape check at its edge (accepted at
// the limit, refused one past it with its own code), the conversion to the
// verifier's input, and the rule that joins them: what the shape check
// accepts under any valid Limits, the conversion accepts under WorkerLimits().
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "common/base/errors.h"
#include "common/evidence/convert.h"
#include "common/evidence/evidence.h"
#include "tests/evidence/sample_evidence.h"

namespace attest::evidence {
namespace {

constexpr const auto& kAlgs = testing::kWireHashAlgorithms;

v1::Evidence Good() { return testing::SampleEvidence(); }

// Evidence at every default limit of the gateway at once.
v1::Evidence AtTheLimits(const Limits& l) {
  v1::Evidence e = Good();
  e.mutable_quote()->set_attest(std::string(l.max_attest_bytes, 'a'));
  e.mutable_quote()->set_signature(std::string(l.max_signature_bytes, 's'));
  e.mutable_quote()->clear_pcrs();
  for (size_t b = 0; b < l.max_banks; ++b) {
    auto* bank = e.mutable_quote()->add_pcrs();
    bank->set_hash_algorithm(kAlgs[b]);
    for (uint32_t i = 0; i <= l.max_pcr_index; ++i) {
      (*bank->mutable_values())[i] = std::string(DigestSize(kAlgs[b]), static_cast<char>(i));
    }
  }
  auto* ima = e.mutable_ima();
  ima->set_format(v1::IMA_LOG_FORMAT_BINARY);
  ima->set_entry_count(l.max_ima_entries);
  ima->set_start_offset(UINT64_MAX - l.max_ima_entries);
  ima->set_template_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  ima->set_data(std::string(l.max_ima_bytes, 'i'));
  e.set_uefi_log(std::string(l.max_uefi_log_bytes, 'u'));
  e.mutable_boot_time()->set_seconds(253402300799);
  e.mutable_boot_time()->set_nanos(999'999'999);
  auto* c = e.mutable_capabilities();
  for (size_t i = 0; i < l.max_list_items; ++i) {
    c->add_hash_algorithms(v1::HASH_ALGORITHM_SHA256);
    c->add_signature_schemes(v1::SIGNATURE_SCHEME_RSASSA);
  }
  c->set_agent_version(std::string(l.max_version_chars, 'v'));
  c->mutable_boot_time()->set_seconds(-62135596800);
  return e;
}

// Small limits, so the edges are cheap to build.
Limits Small() {
  return Limits{.max_attest_bytes = 10,
                .max_signature_bytes = 11,
                .max_banks = 3,
                .max_pcr_index = 7,
                .max_list_items = 2,
                .max_version_chars = 5,
                .max_ima_entries = 4,
                .max_ima_bytes = 100,
                .max_uefi_log_bytes = 200};
}

errc CodeOf(const Result<void>& r) {
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(&r.error().code.category(), &category()) << r.error().message;
  return static_cast<errc>(r.error().code.value());
}

TEST(EvidenceShapeTest, EvidenceAtEveryLimitIsAccepted) {
  for (const Limits& l : {Small(), Limits{}}) {
    auto r = CheckShape(AtTheLimits(l), l);
    EXPECT_TRUE(r.ok()) << r.error().message;
  }
}

struct Edge {
  const char* name;
  errc code;
  std::function<void(v1::Evidence*, const Limits&)> past;  // one past the limit
};

TEST(EvidenceShapeTest, OnePastEachLimitIsRefusedWithItsCode) {
  const Limits l = Small();
  const Edge edges[] = {
      {"attest", errc::attest_size,
       [](v1::Evidence* e, const Limits& l) {
         e->mutable_quote()->set_attest(std::string(l.max_attest_bytes + 1, 'a'));
       }},
      {"signature", errc::signature_size,
       [](v1::Evidence* e, const Limits& l) {
         e->mutable_quote()->set_signature(std::string(l.max_signature_bytes + 1, 's'));
       }},
      {"banks", errc::bank_count,
       [](v1::Evidence* e, const Limits&) {
         auto* bank = e->mutable_quote()->add_pcrs();
         bank->set_hash_algorithm(kAlgs[4]);
         (*bank->mutable_values())[0] = std::string(32, 'x');
       }},
      {"pcr index", errc::pcr_index,
       [](v1::Evidence* e, const Limits& l) {
         (*e->mutable_quote()->mutable_pcrs(0)->mutable_values())[l.max_pcr_index + 1] =
             std::string(20, 'x');
       }},
      {"pcr value long", errc::pcr_value_size,
       [](v1::Evidence* e, const Limits&) {
         (*e->mutable_quote()->mutable_pcrs(0)->mutable_values())[0] = std::string(21, 'x');
       }},
      {"pcr value short", errc::pcr_value_size,
       [](v1::Evidence* e, const Limits&) {
         (*e->mutable_quote()->mutable_pcrs(0)->mutable_values())[0] = std::string(19, 'x');
       }},
      {"ima entries", errc::ima_entry_count,
       [](v1::Evidence* e, const Limits& l) {
         e->mutable_ima()->set_entry_count(l.max_ima_entries + 1);
         e->mutable_ima()->set_start_offset(0);
       }},
      {"ima offset", errc::ima_offset_overflow,
       [](v1::Evidence* e, const Limits& l) {
         e->mutable_ima()->set_start_offset(UINT64_MAX - l.max_ima_entries + 1);
       }},
      {"ima bytes", errc::ima_size,
       [](v1::Evidence* e, const Limits& l) {
         e->mutable_ima()->set_data(std::string(l.max_ima_bytes + 1, 'i'));
       }},
      {"uefi bytes", errc::uefi_log_size,
       [](v1::Evidence* e, const Limits& l) {
         e->set_uefi_log(std::string(l.max_uefi_log_bytes + 1, 'u'));
       }},
      {"boot time", errc::boot_time_range,
       [](v1::Evidence* e, const Limits&) { e->mutable_boot_time()->set_seconds(253402300800); }},
      {"boot time nanos", errc::boot_time_range,
       [](v1::Evidence* e, const Limits&) { e->mutable_boot_time()->set_nanos(1'000'000'000); }},
      {"hash list", errc::capabilities_lists,
       [](v1::Evidence* e, const Limits&) {
         e->mutable_capabilities()->add_hash_algorithms(v1::HASH_ALGORITHM_SHA1);
       }},
      {"scheme list", errc::capabilities_lists,
       [](v1::Evidence* e, const Limits&) {
         e->mutable_capabilities()->add_signature_schemes(v1::SIGNATURE_SCHEME_RSASSA);
       }},
      {"version", errc::capabilities_version,
       [](v1::Evidence* e, const Limits& l) {
         e->mutable_capabilities()->set_agent_version(std::string(l.max_version_chars + 1, 'v'));
       }},
      {"capabilities boot time", errc::capabilities_boot_time,
       [](v1::Evidence* e, const Limits&) {
         e->mutable_capabilities()->mutable_boot_time()->set_seconds(-62135596801);
       }},
  };
  for (const Edge& edge : edges) {
    v1::Evidence e = AtTheLimits(l);
    edge.past(&e, l);
    EXPECT_EQ(CodeOf(CheckShape(e, l)), edge.code) << edge.name;
  }
}

TEST(EvidenceShapeTest, EachOtherReasonHasItsCode) {
  const Limits l;
  using Mutator = void (*)(v1::Evidence*);
  const std::pair<Mutator, errc> cases[] = {
      {[](v1::Evidence* e) { e->clear_challenge_token(); }, errc::token_missing},
      {[](v1::Evidence* e) { e->clear_quote(); }, errc::quote_missing},
      {[](v1::Evidence* e) { e->mutable_quote()->clear_attest(); }, errc::attest_size},
      {[](v1::Evidence* e) { e->mutable_quote()->clear_signature(); }, errc::signature_size},
      {[](v1::Evidence* e) { e->mutable_quote()->clear_pcrs(); }, errc::bank_count},
      {[](v1::Evidence* e) {
         e->mutable_quote()->mutable_pcrs(0)->set_hash_algorithm(v1::HASH_ALGORITHM_UNSPECIFIED);
       },
       errc::bank_algorithm},
      {[](v1::Evidence* e) {
         e->mutable_quote()->mutable_pcrs(0)->set_hash_algorithm(
             static_cast<v1::HashAlgorithm>(63));
       },
       errc::bank_algorithm},
      {[](v1::Evidence* e) { *e->mutable_quote()->add_pcrs() = e->quote().pcrs(0); },
       errc::bank_repeated},
      {[](v1::Evidence* e) { e->mutable_quote()->mutable_pcrs(0)->clear_values(); },
       errc::bank_empty},
      {[](v1::Evidence* e) { e->mutable_ima()->set_entry_count(1); }, errc::ima_data_missing},
      {[](v1::Evidence* e) { e->mutable_ima()->set_data("x"); }, errc::ima_format},
      {[](v1::Evidence* e) {
         e->mutable_ima()->set_template_hash_algorithm(static_cast<v1::HashAlgorithm>(9));
       },
       errc::ima_template_algorithm},
  };
  for (size_t i = 0; i < std::size(cases); ++i) {
    v1::Evidence e = Good();
    cases[i].first(&e);
    EXPECT_EQ(CodeOf(CheckShape(e, l)), cases[i].second) << "case " << i;
    EXPECT_FALSE(category().message(static_cast<int>(cases[i].second)).empty());
  }
  EXPECT_TRUE(CheckShape(Good(), l).ok());
}

TEST(EvidenceLimitsTest, TheGatewaysLimitsAreWithinTheWorkers) {
  EXPECT_TRUE(Validate(Limits{}).ok());
  EXPECT_TRUE(Validate(Small()).ok());
  EXPECT_TRUE(Validate(LimitsForBody(kMaxBodyBytesCap)).ok());
  EXPECT_TRUE(Validate(WorkerLimits()).ok());
  EXPECT_EQ(Limits{}.max_banks, kHashAlgorithms);
  EXPECT_EQ(WorkerLimits().max_banks, kMaxBanksCap);
  EXPECT_EQ(LimitsForBody(12345).max_ima_bytes, 12345u);
  EXPECT_EQ(LimitsForBody(12345).max_uefi_log_bytes, 12345u);
  Limits l;
  l.max_banks = kMaxBanksCap + 1;
  EXPECT_EQ(Validate(l).error().code, base::errc::invalid_value);
  l = Limits{};
  l.max_banks = 0;
  EXPECT_FALSE(Validate(l).ok());
  l = LimitsForBody(kMaxBodyBytesCap + 1);
  EXPECT_FALSE(Validate(l).ok());
  l = Limits{};
  l.max_pcr_index = 24;
  EXPECT_FALSE(Validate(l).ok());
}

TEST(EvidenceConvertTest, ViewsIntoTheProtoAndCopiedPcrs) {
  v1::Evidence e = AtTheLimits(Small());
  e.mutable_ima()->set_entry_count(0);
  e.mutable_capabilities()->set_ima_entry_count(77);
  auto ev = ToVerifierEvidence(e, WorkerLimits());
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  EXPECT_EQ(static_cast<const void*>(ev->quote.data()), e.quote().attest().data());
  EXPECT_EQ(ev->quote.size(), 10u);
  EXPECT_EQ(static_cast<const void*>(ev->signature.data()), e.quote().signature().data());
  ASSERT_EQ(ev->pcrs.size(), 3u);
  EXPECT_EQ(ev->pcrs.at(TPM2_ALG_SHA1).size(), 8u);
  EXPECT_EQ(ev->pcrs.at(TPM2_ALG_SHA384).at(7), tpm::Bytes(48, 7));
  ASSERT_TRUE(ev->ima.has_value());
  EXPECT_EQ(ev->ima->entries.data(), e.ima().data().data());
  EXPECT_EQ(ev->ima->format, ima::Format::kBinary);
  EXPECT_EQ(ev->ima->start_offset, UINT64_MAX - 4);
  EXPECT_FALSE(ev->ima->entry_count.has_value());  // data without a count
  EXPECT_EQ(ev->ima->template_hash_alg, ima::HashAlg::kSha256);
  EXPECT_EQ(ev->ima->list_entries, 77u);
  ASSERT_TRUE(ev->uefi_log.has_value());
  EXPECT_EQ(static_cast<const void*>(ev->uefi_log->data()), e.uefi_log().data());
  EXPECT_EQ(ev->boot_time, 253402300799);
  EXPECT_FALSE(ev->uefi_log_asked.has_value());
  EXPECT_FALSE(ev->nonce_after_stored_quote);

  v1::Evidence bare = Good();
  auto b = ToVerifierEvidence(bare, WorkerLimits());
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->ima.has_value());
  EXPECT_FALSE(b->uefi_log.has_value());
  EXPECT_FALSE(b->boot_time.has_value());
  bare.mutable_ima();  // present, empty: a count of 0
  b = ToVerifierEvidence(bare, WorkerLimits());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->ima->entry_count, 0u);
  EXPECT_EQ(b->ima->format, ima::Format::kAscii);
  EXPECT_FALSE(b->ima->template_hash_alg.has_value());
}

TEST(EvidenceConvertTest, ItsLimitsAtTheEdgeWithTheWorkersMessages) {
  const Limits l = Small();
  v1::Evidence e = AtTheLimits(l);
  ASSERT_TRUE(ToVerifierEvidence(e, l).ok());
  auto code = [&](const v1::Evidence& x) {
    auto r = ToVerifierEvidence(x, l);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::pair(errc::ok, std::string())
                  : std::pair(static_cast<errc>(r.error().code.value()), r.error().message);
  };
  v1::Evidence x = e;
  auto* bank = x.mutable_quote()->add_pcrs();
  bank->set_hash_algorithm(v1::HASH_ALGORITHM_SHA1);  // a repeat: not the conversion's to refuse
  (*bank->mutable_values())[0] = std::string(20, 'x');
  EXPECT_EQ(code(x), std::pair(errc::bank_count, std::string("too many PCR banks")));
  x = e;
  x.mutable_quote()->mutable_pcrs(0)->set_hash_algorithm(v1::HASH_ALGORITHM_UNSPECIFIED);
  EXPECT_EQ(code(x),
            std::pair(errc::bank_algorithm, std::string("unknown PCR bank hash algorithm")));
  x = e;
  (*x.mutable_quote()->mutable_pcrs(0)->mutable_values())[8] = std::string(20, 'x');
  EXPECT_EQ(code(x), std::pair(errc::pcr_index, std::string("PCR index or value out of range")));
  x = e;
  (*x.mutable_quote()->mutable_pcrs(0)->mutable_values())[0] = std::string(64, 'x');
  EXPECT_TRUE(ToVerifierEvidence(x, l).ok());  // any size up to SHA-512's: the verifier judges
  (*x.mutable_quote()->mutable_pcrs(0)->mutable_values())[0] = std::string(65, 'x');
  EXPECT_EQ(code(x),
            std::pair(errc::pcr_value_size, std::string("PCR index or value out of range")));
  x = e;
  x.mutable_ima()->set_data(std::string(101, 'i'));
  EXPECT_EQ(code(x), std::pair(errc::ima_size, std::string("IMA data too large")));
  x = e;
  x.set_uefi_log(std::string(201, 'u'));
  EXPECT_EQ(code(x), std::pair(errc::uefi_log_size, std::string("UEFI log too large")));
}

// The rule of the module: the worker never refuses what a gateway admitted.
// Every single-field variation around every limit, under two gateway limit
// sets: accepted by CheckShape implies accepted by the conversion, under the
// same limits and under WorkerLimits().
TEST(EvidenceAgreementTest, WhatTheShapeCheckAcceptsTheConversionAccepts) {
  for (const Limits& l : {Small(), Limits{}}) {
    const v1::Evidence base = AtTheLimits(l);
    std::vector<v1::Evidence> variants = {base};
    for (size_t b = 0; b < l.max_banks; ++b) {
      for (int delta : {-1, 0, 1}) {
        v1::Evidence e = base;
        auto& values = *e.mutable_quote()->mutable_pcrs(static_cast<int>(b))->mutable_values();
        values[l.max_pcr_index] = std::string(DigestSize(kAlgs[b]) + delta, 'x');
        variants.push_back(e);
        e = base;
        e.mutable_quote()
            ->mutable_pcrs(static_cast<int>(b))
            ->set_hash_algorithm(
                static_cast<v1::HashAlgorithm>(static_cast<int>(kAlgs[b]) + delta));
        variants.push_back(e);
      }
    }
    for (size_t n : {size_t{0}, l.max_banks - 1, l.max_banks + 1, kMaxBanksCap + 1}) {
      v1::Evidence e = base;
      while (static_cast<size_t>(e.quote().pcrs_size()) > n)
        e.mutable_quote()->mutable_pcrs()->RemoveLast();
      while (static_cast<size_t>(e.quote().pcrs_size()) < n)
        *e.mutable_quote()->add_pcrs() = base.quote().pcrs(0);
      variants.push_back(e);
    }
    size_t accepted = 0;
    for (const auto& e : variants) {
      if (!CheckShape(e, l).ok()) continue;
      ++accepted;
      auto same = ToVerifierEvidence(e, l);
      EXPECT_TRUE(same.ok()) << same.error().message;
      auto worker = ToVerifierEvidence(e, WorkerLimits());
      EXPECT_TRUE(worker.ok()) << worker.error().message;
    }
    EXPECT_GT(accepted, l.max_banks);
    EXPECT_LT(accepted, variants.size());
  }
}

// fuzz/evidence/corpus/at_the_gateways_limits is admitted by the gateway's
// defaults and converted. Made from fuzz/evidence/at_the_gateways_limits.txtpb:
//   protoc --encode=attest.v1.Evidence -I schemas/proto attest/v1/attestation.proto
TEST(EvidenceFuzzSeedTest, TheSeedAtTheLimitsIsAdmitted) {
  std::ifstream in(std::string(ATTEST_SOURCE_DIR) + "/fuzz/evidence/corpus/at_the_gateways_limits",
                   std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  v1::Evidence e;
  ASSERT_TRUE(e.ParseFromString(bytes.str()));
  EXPECT_EQ(e.quote().pcrs_size(), 5);
  auto r = CheckShape(e, Limits{});
  EXPECT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(ToVerifierEvidence(e, WorkerLimits()).ok());
}

}  // namespace
}  // namespace attest::evidence
