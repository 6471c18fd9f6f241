#include "common/metrics/metrics.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <vector>

namespace attest::metrics {
namespace {

TEST(Metrics, CounterAndGaugeRender) {
  Registry r;
  auto& reqs = r.AddCounter("http_requests_total", "Requests.", {"route", "status"});
  reqs.With({"/v1/x", "200"}).Inc();
  reqs.With({"/v1/x", "200"}).Inc(2);
  reqs.With({"/v1/x", "404"}).Inc();
  auto& g = r.AddGauge("queue_depth", "Depth.").With({});
  g.Set(5);
  g.Dec();
  std::string text = r.Render();
  EXPECT_NE(text.find("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("http_requests_total{route=\"/v1/x\",status=\"200\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("http_requests_total{route=\"/v1/x\",status=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE queue_depth gauge\nqueue_depth 4\n"), std::string::npos) << text;
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Registry r;
  auto& h = r.AddHistogram("lat_seconds", "Latency.", {"route"}, {0.1, 1}).With({"a"});
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(0.5);
  h.Observe(7);
  std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE lat_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"a\",le=\"0.1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"a\",le=\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"a\",le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_sum{route=\"a\"} 7.65\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_count{route=\"a\"} 4\n"), std::string::npos);
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  Registry r;
  r.AddCounter("c_total", "line1\nline2 \\", {"v"}).With({"a\"b\\c\nd"}).Inc();
  std::string text = r.Render();
  EXPECT_NE(text.find("# HELP c_total line1\\nline2 \\\\\n"), std::string::npos) << text;
  EXPECT_NE(text.find("c_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
}

TEST(Metrics, SameNameReturnsSameFamilyOtherTypeThrows) {
  Registry r;
  auto& a = r.AddCounter("x_total", "X.", {"l"});
  auto& b = r.AddCounter("x_total", "X.", {"l"});
  EXPECT_EQ(&a, &b);
  EXPECT_THROW(r.AddGauge("x_total", "X."), std::logic_error);
  EXPECT_THROW(r.AddCounter("x_total", "X.", {"other"}), std::logic_error);
  EXPECT_THROW(r.AddCounter("bad name", "X."), std::logic_error);
  EXPECT_THROW(a.With({"1", "2"}), std::logic_error);
  EXPECT_THROW(r.AddHistogram("h", "H.", {}, {1, 1}), std::logic_error);
}

TEST(Metrics, CollectorRunsBeforeRender) {
  Registry r;
  auto& g = r.AddGauge("depth", "D.").With({});
  int calls = 0;
  r.AddCollector([&] { g.Set(++calls * 10); });
  EXPECT_NE(r.Render().find("depth 10\n"), std::string::npos);
  EXPECT_NE(r.Render().find("depth 20\n"), std::string::npos);
}

TEST(Metrics, ConcurrentIncrementsAreNotLost) {
  Registry r;
  auto& fam = r.AddCounter("n_total", "N.", {"t"});
  auto& hist = r.AddHistogram("h_seconds", "H.", {}).With({});
  auto& gauge = r.AddGauge("g", "G.").With({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      Counter& c = fam.With({"x"});
      for (int i = 0; i < 100000; ++i) {
        c.Inc();
        hist.Observe(0.001);
        gauge.Inc();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fam.With({"x"}).Value(), 400000u);
  EXPECT_EQ(hist.Count(), 400000u);
  EXPECT_EQ(gauge.Value(), 400000);
}

}  // namespace
}  // namespace attest::metrics
