#include "common/service/main_shell.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <future>
#include <vector>

#include "common/base/errors.h"

namespace attest::service {
namespace {

struct FakeConfig {
  std::string path;
};

struct Argv {
  explicit Argv(std::vector<std::string> a) : args(std::move(a)) {
    for (auto& s : args) ptrs.push_back(s.data());
  }
  int argc() const { return static_cast<int>(ptrs.size()); }
  char** argv() { return ptrs.data(); }
  std::vector<std::string> args;
  std::vector<char*> ptrs;
};

MainSpec<FakeConfig> Spec(int* runs) {
  MainSpec<FakeConfig> spec;
  spec.program = "attest-test";
  spec.description = "test";
  spec.default_config = "/etc/attest/test.toml";
  spec.config_help = "test configuration";
  spec.load = [](const std::string& path) -> Result<FakeConfig> {
    if (path == "bad.toml") return MakeError(base::errc::invalid_value, "bad.toml: key 'x': no");
    return FakeConfig{path};
  };
  spec.logging = [](const FakeConfig&) { return LogOptions{}; };
  spec.run = [runs](FakeConfig c) {
    ++*runs;
    return c.path == "fail.toml" ? kExitFailure : kExitStopped;
  };
  return spec;
}

TEST(MainShell, ExitCodesOfTheCommandLineConfigAndRun) {
  int runs = 0;
  const auto spec = Spec(&runs);
  Argv bogus({"attest-test", "--bogus"});
  EXPECT_EQ(RunMain(spec, bogus.argc(), bogus.argv()), kExitUsage);
  Argv help({"attest-test", "--help"});
  EXPECT_EQ(RunMain(spec, help.argc(), help.argv()), 0);
  Argv bad({"attest-test", "--config", "bad.toml"});
  testing::internal::CaptureStderr();
  EXPECT_EQ(RunMain(spec, bad.argc(), bad.argv()), kExitUsage);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "attest-test: bad.toml: key 'x': no\n");
  EXPECT_EQ(runs, 0);  // none of these reached run

  Argv fail({"attest-test", "--config", "fail.toml"});
  EXPECT_EQ(RunMain(spec, fail.argc(), fail.argv()), kExitFailure);
  Argv ok({"attest-test"});  // the default path
  EXPECT_EQ(RunMain(spec, ok.argc(), ok.argv()), kExitStopped);
  EXPECT_EQ(runs, 2);
}

TEST(MainShell, ExtraFlagsAreParsedBeforeTheConfigIsLoaded) {
  int runs = 0;
  auto spec = Spec(&runs);
  bool once = false;
  spec.flags = [&once](CLI::App& app) { app.add_flag("--once", once, "once"); };
  Argv a({"attest-test", "--once"});
  EXPECT_EQ(RunMain(spec, a.argc(), a.argv()), kExitStopped);
  EXPECT_TRUE(once);
}

TEST(StopSignals, WaitTakesAPendingStopSignal) {
  StopSignals signals;
  kill(getpid(), SIGINT);  // blocked: pending until taken
  EXPECT_EQ(signals.Wait(), SIGINT);
}

TEST(StopSignals, TheWatcherGetsTheSignalOnce) {
  StopSignals signals;
  std::promise<int> got;
  signals.Watch([&got](int sig) { got.set_value(sig); });
  kill(getpid(), SIGTERM);
  EXPECT_EQ(got.get_future().get(), SIGTERM);
  signals.StopWatching();
}

TEST(StopSignals, StopWatchingWithoutASignalEndsTheWatcherSilently) {
  int calls = 0;
  {
    StopSignals signals;
    signals.Watch([&calls](int) { ++calls; });
    signals.StopWatching();
  }
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace attest::service
