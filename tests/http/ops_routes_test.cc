#include "common/http/ops_routes.h"

#include <gtest/gtest.h>

#include <optional>

#include "common/metrics/metrics.h"

namespace attest::http {
namespace {

// Runs the route's handler for GET `path` and returns what it sent.
std::optional<Response> Get(const Router& router, std::string_view path) {
  auto m = router.Find("GET", path);
  if (m.kind != Router::Match::Kind::kFound) return std::nullopt;
  std::optional<Response> sent;
  Responder res(std::make_shared<Responder::State>([&](Response&& r) { sent = std::move(r); }));
  auto req =
      std::make_shared<Request>(BeastRequest{}, m.params, m.route->pattern, nullptr, "127.0.0.1:1");
  m.route->handler(req, res);
  return sent;
}

TEST(OpsRoutes, DefaultsAnswerHealthyAndRenderMetricsWithoutReadyz) {
  metrics::Registry registry;
  registry.AddCounter("demo_total", "A demo counter.", {}).With({}).Inc();
  Router router;
  ASSERT_TRUE(AddOpsRoutes(router, {.metrics = &registry}));

  auto health = Get(router, "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");

  auto m = Get(router, "/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_EQ(m->content_type, metrics::Registry::kContentType);
  EXPECT_NE(m->body.find("demo_total 1"), std::string::npos) << m->body;

  EXPECT_EQ(router.Find("GET", "/readyz").kind, Router::Match::Kind::kNotFound);
}

TEST(OpsRoutes, ServiceHandlersReplaceTheDefaults) {
  Router router;
  OpsHandlers h;
  h.healthy = [](RequestPtr, Responder r) { r.Send(Response::Json(503, "{}")); };
  h.ready = [](RequestPtr, Responder r) { r.Send(Response::Text(200, "ready\n")); };
  ASSERT_TRUE(AddOpsRoutes(router, std::move(h)));
  EXPECT_EQ(Get(router, "/healthz")->status, 503);
  EXPECT_EQ(Get(router, "/readyz")->body, "ready\n");
  EXPECT_EQ(router.Find("GET", "/metrics").kind, Router::Match::Kind::kNotFound);
}

TEST(OpsRoutes, APathRoutedTwiceIsAnError) {
  Router router;
  ASSERT_TRUE(router.Add("GET", "/healthz", AlwaysHealthy()));
  auto r = AddOpsRoutes(router, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/healthz"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace attest::http
