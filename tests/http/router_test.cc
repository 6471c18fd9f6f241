#include "common/http/router.h"

#include <gtest/gtest.h>

#include "common/http/message.h"

namespace attest::http {
namespace {

Handler Noop() {
  return [](RequestPtr, Responder) {};
}

TEST(Router, MatchesLiteralAndParams) {
  Router r;
  ASSERT_TRUE(r.Add("POST", "/v1/agents/{uuid}/evidence", Noop()).ok());
  ASSERT_TRUE(r.Add("POST", "/v1/agents/{uuid}/challenges", Noop()).ok());
  ASSERT_TRUE(r.Add("GET", "/healthz", Noop()).ok());
  ASSERT_TRUE(r.Add("GET", "/", Noop()).ok());

  auto m = r.Find("POST", "/v1/agents/abc-123/evidence");
  ASSERT_EQ(m.kind, Router::Match::Kind::kFound);
  EXPECT_EQ(m.route->pattern, "/v1/agents/{uuid}/evidence");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].first, "uuid");
  EXPECT_EQ(m.params[0].second, "abc-123");

  EXPECT_EQ(r.Find("GET", "/healthz").kind, Router::Match::Kind::kFound);
  EXPECT_EQ(r.Find("GET", "/").kind, Router::Match::Kind::kFound);
  EXPECT_EQ(r.Find("GET", "/healthz/").kind, Router::Match::Kind::kNotFound);
  EXPECT_EQ(r.Find("POST", "/v1/agents//evidence").kind, Router::Match::Kind::kNotFound);
  EXPECT_EQ(r.Find("POST", "/v1/agents/a/b/evidence").kind, Router::Match::Kind::kNotFound);
  EXPECT_EQ(r.Find("POST", "v1/agents/a/evidence").kind, Router::Match::Kind::kNotFound);
  EXPECT_EQ(r.Find("POST", "").kind, Router::Match::Kind::kNotFound);
}

TEST(Router, MethodNotAllowedListsAllowed) {
  Router r;
  ASSERT_TRUE(r.Add("POST", "/v1/agents/{uuid}", Noop()).ok());
  ASSERT_TRUE(r.Add("DELETE", "/v1/agents/{uuid}", Noop()).ok());
  auto m = r.Find("GET", "/v1/agents/x");
  EXPECT_EQ(m.kind, Router::Match::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "POST, DELETE");
}

TEST(Router, LiteralBeatsParameter) {
  Router r;
  ASSERT_TRUE(r.Add("GET", "/v1/agents/{uuid}", Noop()).ok());
  ASSERT_TRUE(r.Add("GET", "/v1/agents/count", Noop()).ok());
  EXPECT_EQ(r.Find("GET", "/v1/agents/count").route->pattern, "/v1/agents/count");
  EXPECT_EQ(r.Find("GET", "/v1/agents/x").route->pattern, "/v1/agents/{uuid}");
}

TEST(Router, RejectsBadPatterns) {
  Router r;
  EXPECT_FALSE(r.Add("GET", "v1/x", Noop()).ok());
  EXPECT_FALSE(r.Add("GET", "/v1//x", Noop()).ok());
  EXPECT_FALSE(r.Add("GET", "/v1/a{b}", Noop()).ok());
  EXPECT_FALSE(r.Add("GET", "/v1/{}", Noop()).ok());
  EXPECT_FALSE(r.Add("GET", "/v1/x", nullptr).ok());
  ASSERT_TRUE(r.Add("GET", "/v1/x", Noop()).ok());
  EXPECT_FALSE(r.Add("GET", "/v1/x", Noop()).ok());
}

TEST(Router, LongPathsAreNotFound) {
  Router r;
  ASSERT_TRUE(r.Add("GET", "/a", Noop()).ok());
  std::string p;
  for (int i = 0; i < 100; ++i) p += "/a";
  EXPECT_EQ(r.Find("GET", p).kind, Router::Match::Kind::kNotFound);
}

TEST(Problem, Rfc7807Body) {
  Response r = Problem(503, "kafka unavailable").RetryAfter(std::chrono::milliseconds(1500));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_EQ(
      r.body,
      R"({"detail":"kafka unavailable","status":503,"title":"Service Unavailable","type":"about:blank"})");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Retry-After");
  EXPECT_EQ(r.headers[0].second, "2");
  EXPECT_EQ(r.reason, "kafka unavailable");
  // Invalid UTF-8 from client input must not throw.
  Response bad = Problem(400, std::string("bad \xff byte"));
  EXPECT_NE(bad.body.find("bad "), std::string::npos);
}

TEST(Responder, FirstSendWinsAndDropSends500) {
  std::vector<int> sent;
  {
    Responder res(
        std::make_shared<Responder::State>([&](Response&& r) { sent.push_back(r.status); }));
    res.Send(Response::Text(200, "a"));
    res.Send(Response::Text(201, "b"));
    EXPECT_TRUE(res.sent());
  }
  {
    Responder res(
        std::make_shared<Responder::State>([&](Response&& r) { sent.push_back(r.status); }));
  }
  EXPECT_EQ(sent, (std::vector<int>{200, 500}));
}

}  // namespace
}  // namespace attest::http
