// attestctl: the operators' command-line tool. Subcommands register
// themselves (see command_registry.h).
#include <cstdio>

#include "attestctl/command_registry.h"

namespace attest::ctl {

CommandRegistration::CommandRegistration(Registrar r) { Registrations().push_back(std::move(r)); }

std::vector<Registrar>& Registrations() {
  static std::vector<Registrar> all;
  return all;
}

CLI::App& Group(CLI::App& parent, const std::string& name, const std::string& description) {
  for (CLI::App* sub : parent.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name() == name) return *sub;
  }
  CLI::App* sub = parent.add_subcommand(name, description);
  sub->require_subcommand(1);
  return *sub;
}

namespace {
int g_exit_code = kExitPass;
}  // namespace

void SetExitCode(int code) { g_exit_code = code; }
int ExitCode() { return g_exit_code; }

}  // namespace attest::ctl

int main(int argc, char** argv) {
  using namespace attest::ctl;
  CLI::App app{"attestctl: operate and debug the attestation pipeline"};
  app.require_subcommand(1);
  for (auto& reg : Registrations()) reg(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  } catch (const CommandError& e) {
    std::fprintf(stderr, "attestctl: %s\n", e.message.c_str());
    return e.exit_code;
  }
  return ExitCode();
}
