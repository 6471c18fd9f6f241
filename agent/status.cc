#include "agent/status.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "agent/errors.h"
#include "agent/sources.h"
#include "agent/state.h"
#include "common/base/escape.h"

namespace attest::agent {

int AgentStatus::Serving() const {
  return static_cast<int>(std::count_if(blocks.begin(), blocks.end(), [](const BlockStatus& b) {
    return b.in_use && b.state == "serving";
  }));
}

std::string StatusJson(const AgentStatus& s) {
  nlohmann::json blocks = nlohmann::json::array();
  for (const BlockStatus& b : s.blocks) {
    blocks.push_back({{"name", b.name},
                      {"addresses", b.addresses},
                      {"in_use", b.in_use},
                      {"state", b.state},
                      {"reason", b.reason},
                      {"last_accepted", b.last_accepted},
                      {"last_error", b.last_error}});
  }
  nlohmann::json j = {{"agent_uuid", s.agent_uuid},
                      {"pid", s.pid},
                      {"updated", s.updated},
                      {"verification_duplication", s.verification_duplication},
                      {"blocks", std::move(blocks)}};
  // Replace invalid UTF-8 (a server's error text) instead of throwing.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<AgentStatus> ParseStatusJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [](const std::string& what) {
    return MakeError(errc::state_corrupt, "status file: " + what);
  };
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  try {
    AgentStatus s;
    s.agent_uuid = j.at("agent_uuid").get<std::string>();
    s.pid = j.at("pid").get<int64_t>();
    s.updated = j.at("updated").get<std::string>();
    s.verification_duplication = j.at("verification_duplication").get<int>();
    for (const auto& b : j.at("blocks")) {
      BlockStatus bs;
      bs.name = b.at("name").get<std::string>();
      bs.addresses = b.value("addresses", "");
      bs.in_use = b.at("in_use").get<bool>();
      bs.state = b.at("state").get<std::string>();
      bs.reason = b.value("reason", "");
      bs.last_accepted = b.value("last_accepted", "");
      bs.last_error = b.value("last_error", "");
      s.blocks.push_back(std::move(bs));
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
}

std::filesystem::path StatusPath(const std::filesystem::path& state_dir) {
  return state_dir / "status.json";
}

Result<void> WriteStatus(const std::filesystem::path& state_dir, const AgentStatus& status) {
  return WriteFileAtomic(StatusPath(state_dir), StatusJson(status));
}

Result<AgentStatus> ReadStatus(const std::filesystem::path& state_dir) {
  const auto path = StatusPath(state_dir);
  auto text = ReadBounded(path.string(), 1 << 20);
  if (!text) {
    return MakeError(errc::io_error, path.string() + ": " + text.error().message +
                                         " (has the agent run with this state_dir?)");
  }
  auto s = ParseStatusJson(*text);
  if (!s) return Error{s.error().code, path.string() + ": " + s.error().message};
  return s;
}

std::string FormatStatus(const AgentStatus& s) {
  // The file holds servers' words (a reason is an error text): no field may
  // drive the terminal or break the table's lines.
  auto safe = [](const std::string& field) { return TerminalSafe(field); };
  std::string out = "agent " + safe(s.agent_uuid) + " (pid " + std::to_string(s.pid) +
                    "), updated " + safe(s.updated) + "\n";
  for (const BlockStatus& b : s.blocks) {
    out += "  " + safe(b.name) + "  " + (b.in_use ? "in use" : "not in use") + "  " + safe(b.state);
    if (!b.last_accepted.empty()) out += "  last accepted " + safe(b.last_accepted);
    out += "\n";
    if (!b.addresses.empty()) out += "      " + safe(b.addresses) + "\n";
    if (!b.reason.empty()) out += "      why: " + safe(b.reason) + "\n";
  }
  out += std::to_string(s.Serving()) + " of " + std::to_string(s.verification_duplication) +
         " block(s) serving\n";
  return out;
}

}  // namespace attest::agent
