// The registrar's bulk enrolment path (POST /v1/admin/agents:bulk) against a
// real registrar and PostgreSQL: authentication, validation, idempotence and
// the rows it writes (active registrations, enrolments on a shared policy).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "common/kafka/partitioner.h"
#include "registrar/admin_client.h"
#include "registrar/soft_identity.h"
#include "tests/attest_bench/pipeline.h"
#include "tools/attest-bench/state_file.h"
#include "tools/simtpm/sim_ima.h"
#include "tools/simtpm/sim_tpm.h"

namespace attest::bench::test {
namespace {

std::string Hex(const std::vector<uint8_t>& b) {
  std::string s;
  char buf[3];
  for (uint8_t x : b) {
    std::snprintf(buf, sizeof buf, "%02x", x);
    s += buf;
  }
  return s;
}

class BulkEnrolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PipelineOptions o;
    o.workers = 0;
    pipeline_ = new Pipeline(o);
  }
  static void TearDownTestSuite() {
    delete pipeline_;
    pipeline_ = nullptr;
  }

  registrar::AdminClient Client(const std::string& token) {
    registrar::AdminClientOptions o;
    o.base_url = pipeline_->registrar_url();
    o.ca_file = pipeline_->ca_file();
    o.token = token;
    auto c = registrar::AdminClient::Create(o);
    if (!c) throw std::runtime_error(c.error().message);
    return std::move(*c);
  }
  std::string Token() {
    std::ifstream in(pipeline_->admin_token_file());
    std::string t;
    std::getline(in, t);
    return t;
  }
  nlohmann::json Body(size_t n, std::vector<std::string>* uuids = nullptr) {
    static auto ek = registrar::SoftIdentity::Generate();
    auto pool = simtpm::ImaPool::Create(8);
    nlohmann::json b = {{"ek_public", Hex(ek->ek_public())},
                        {"runtime_policy", pool->RuntimePolicy()},
                        {"interval_seconds", 5},
                        {"agents", nlohmann::json::array()}};
    for (size_t i = 0; i < n; ++i) {
      auto ak = i % 2 ? simtpm::MakeRsaAk() : simtpm::MakeEccAk();
      std::string uuid = UuidText(RandomUuid());
      if (uuids) uuids->push_back(uuid);
      b["agents"].push_back({{"uuid", uuid}, {"ak_public", Hex(*simtpm::Tpm2bPublic(ak->pub))}});
    }
    return b;
  }
  int64_t Count(const std::string& sql) {
    pqxx::connection c(pipeline_->conninfo());
    pqxx::work tx(c);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  static Pipeline* pipeline_;
};
Pipeline* BulkEnrolTest::pipeline_ = nullptr;

TEST_F(BulkEnrolTest, NeedsTheAdminToken) {
  auto none = Client("").Call("POST", "/v1/admin/agents:bulk", Body(1).dump());
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ(none->status, 401);
  auto wrong = Client("not-the-token").Call("POST", "/v1/admin/agents:bulk", Body(1).dump());
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 403);
}

TEST_F(BulkEnrolTest, EnrolsAgentsActiveWithASharedPolicyAndIsIdempotent) {
  std::vector<std::string> uuids;
  auto body = Body(6, &uuids);
  auto r = Client(Token()).Call("POST", "/v1/admin/agents:bulk", body.dump());
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["enrolled"], 6);
  EXPECT_EQ(j["existing"], 0);
  const int64_t policy = j["runtime_policy_id"].get<int64_t>();
  EXPECT_GT(policy, 0);
  for (const auto& u : uuids) {
    EXPECT_EQ(Count("SELECT count(*) FROM registrations WHERE state = 'active' AND agent_id = '" +
                    u + "'"),
              1);
    EXPECT_EQ(Count("SELECT partition FROM enrolments WHERE agent_id = '" + u + "'"),
              kafka::PartitionFor(u, 12));
    EXPECT_EQ(Count("SELECT runtime_policy_id FROM enrolments WHERE agent_id = '" + u + "'"),
              policy);
  }
  // The agents are visible through the normal admin API.
  auto show = Client(Token()).Show(uuids[0]);
  ASSERT_TRUE(show.ok()) << show.error().message;
  EXPECT_TRUE(show->active());
  EXPECT_EQ(show->state(), v1::AGENT_STATE_ENROLLED);

  // Again: nothing changes, the same policy is reused.
  auto again = Client(Token()).Call("POST", "/v1/admin/agents:bulk", body.dump());
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->status, 200) << again->body;
  auto j2 = nlohmann::json::parse(again->body);
  EXPECT_EQ(j2["enrolled"], 0);
  EXPECT_EQ(j2["existing"], 6);
  EXPECT_EQ(j2["runtime_policy_id"].get<int64_t>(), policy);
}

TEST_F(BulkEnrolTest, RefusesMalformedRequestsWithoutWriting) {
  const int64_t before = Count("SELECT count(*) FROM registrations");
  auto bad = [&](nlohmann::json b) {
    auto r = Client(Token()).Call("POST", "/v1/admin/agents:bulk", b.dump());
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->status : 0;
  };
  auto b = Body(2);
  b["agents"][1]["uuid"] = "not-a-uuid";
  EXPECT_EQ(bad(b), 400);
  b = Body(2);
  b["agents"][1]["ak_public"] = "00ff";
  EXPECT_EQ(bad(b), 400);
  b = Body(2);
  b["runtime_policy"] = "[1,2]";
  EXPECT_EQ(bad(b), 400);
  b = Body(1);
  b["interval_seconds"] = 0;
  EXPECT_EQ(bad(b), 400);
  b = Body(1);
  b["agents"] = nlohmann::json::array();
  EXPECT_EQ(bad(b), 400);
  b = Body(1);
  b.erase("ek_public");
  EXPECT_EQ(bad(b), 400);
  auto r = Client(Token()).Call("POST", "/v1/admin/agents:bulk", "{not json");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Count("SELECT count(*) FROM registrations"), before);
}

}  // namespace
}  // namespace attest::bench::test
