// attestctl revocation verify: checks a signed revocation event as published
// on attestation.revocations (the record value, protobuf or JSON encoding).
//
//   attestctl revocation verify --key PUB.pem FILE|-   [--json]
//       [--seen STATE.json] [--max-age SECONDS]
//
// --key is the published public key (PEM; ECDSA P-256 or Ed25519). Valid
// means: the signature verifies over "attest.v1.RevocationEvent\0" || event
// (worker::RevocationSignedMessage: a signed verdict re-wrapped as a
// revocation does not verify) and the signed event names the envelope's
// key id and algorithm (the envelope's copies are unsigned). Everything
// printed about the event comes from the signed bytes.
//
// Replays: --seen keeps, per (backend_id, agent), the newest revocation
// acted on (a JSON file, created if absent, updated only for a valid, new
// revocation); an event not newer than it is reported as a replay.
// --max-age flags an event issued longer ago than SECONDS (for consumers
// without state). --json output is built with a JSON library: no field the
// record controls can add or change a key. Its top-level "act" is the one
// answer to act on: valid, and neither a replay nor stale (when --seen /
// --max-age are given); exit 0 exactly when it is true.
//
// Exit codes: 0 valid (and, with --seen/--max-age, new), 1 invalid
// signature, replay or too old, 2 unreadable or malformed input.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

#include "attest/v1/verdict.pb.h"
#include "attestctl/command_registry.h"
#include "attestctl/record_codec.h"
#include "common/base/escape.h"
#include "verifier-workers/revocation.h"

namespace attest::ctl {
namespace {

constexpr size_t kMaxInputBytes = 1u << 20;

std::string ReadInput(const std::string& path) {
  std::string data;
  auto read = [&](std::istream& in) {
    char buf[4096];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      data.append(buf, static_cast<size_t>(in.gcount()));
      if (data.size() > kMaxInputBytes)
        throw CommandError{kExitUsage, path + ": larger than 1 MiB"};
    }
    if (in.bad()) throw CommandError{kExitUsage, path + ": read failed"};
  };
  if (path == "-") {
    read(std::cin);
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw CommandError{kExitUsage, path + ": cannot open file"};
    read(in);
  }
  return data;
}

struct Args {
  std::string key;
  std::string input;
  bool json = false;
  std::string seen;
  int64_t max_age_s = 0;  // 0: no bound
};

using nlohmann::json;

// The replay state: {"<backend_id>/<agent>": {"timeMicros": N, "sequence": N}}.
json LoadSeen(const std::string& path) {
  if (!std::filesystem::exists(path)) return json::object();
  json j = json::parse(ReadInput(path), nullptr, false);
  if (!j.is_object()) throw CommandError{kExitUsage, path + ": not a JSON object"};
  return j;
}

void SaveSeen(const std::string& path, const json& j) {
  // Write then rename: a crash never leaves a half-written state.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << j.dump(1) << "\n";
    if (!out) throw CommandError{kExitUsage, tmp + ": write failed"};
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw CommandError{kExitUsage, path + ": cannot replace"};
  }
}

std::optional<worker::RevocationMark> MarkIn(const json& seen, const std::string& id) {
  auto it = seen.find(id);
  if (it == seen.end() || !it->is_object()) return std::nullopt;
  auto t = it->find("timeMicros");
  auto q = it->find("sequence");
  if (t == it->end() || q == it->end() || !t->is_number_integer() || !q->is_number_unsigned()) {
    return std::nullopt;
  }
  return worker::RevocationMark{t->get<int64_t>(), q->get<uint64_t>()};
}

int Run(const Args& a) {
  auto key = worker::LoadPublicKeyPem(ReadInput(a.key));
  if (!key) throw CommandError{kExitUsage, a.key + ": " + key.error().message};
  const std::string data = ReadInput(a.input);
  auto decoded = DecodeRevocation(data, "");
  if (!decoded) throw CommandError{kExitUsage, a.input + ": " + decoded.error().message};
  const v1::SignedRevocation& sr = decoded->signed_event;
  const v1::RevocationEvent& ev = decoded->event;
  auto ok = worker::VerifyRevocation(sr, key->get());

  // Replay and age: only meaningful for an authentic event.
  const std::string seen_id = ev.backend_id() + "/" + ev.agent_uuid();
  std::optional<bool> replay, stale;
  json seen;
  if (!a.seen.empty()) {
    seen = LoadSeen(a.seen);
    auto last = MarkIn(seen, seen_id);
    replay = last && worker::IsReplay(ev, *last);
  }
  if (a.max_age_s > 0) {
    const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    stale = now_us - worker::MarkOf(ev).time_micros > a.max_age_s * 1'000'000;
  }
  const bool act = ok && !replay.value_or(false) && !stale.value_or(false);
  if (act && !a.seen.empty()) {
    const auto m = worker::MarkOf(ev);
    seen[seen_id] = {{"timeMicros", m.time_micros}, {"sequence", m.sequence}};
    SaveSeen(a.seen, seen);
  }

  if (a.json) {
    std::string body;
    (void)google::protobuf::util::MessageToJsonString(ev, &body);
    json out;
    out["act"] = act;
    out["valid"] = ok.ok();
    if (!ok) out["error"] = ok.error().message;
    out["key_id"] = sr.key_id();
    json event = json::parse(body, nullptr, false);
    out["event"] = event.is_discarded() ? json(nullptr) : std::move(event);
    if (replay) out["replay"] = *replay;
    if (stale) out["stale"] = *stale;
    std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  } else {
    using google::protobuf::util::TimeUtil;
    std::cout << "agent:     " << TerminalSafe(ev.agent_uuid()) << "\n"
              << "sequence:  " << ev.sequence() << "\n"
              << "issued:    " << TimeUtil::ToString(ev.time()) << "\n"
              << "backend:   " << TerminalSafe(ev.backend_id()) << " (worker "
              << TerminalSafe(ev.worker_id()) << ")\n"
              << "reason:    " << TerminalSafe(ev.reason()) << "\n";
    for (const auto& id : ev.event_ids()) std::cout << "event id:  " << TerminalSafe(id) << "\n";
    std::cout << "key id:    " << TerminalSafe(ev.key_id()) << " ("
              << TerminalSafe(ev.signature_algorithm()) << ")\n"
              << "signature: " << (ok ? "valid" : "INVALID: " + TerminalSafe(ok.error().message))
              << "\n";
    if (replay)
      std::cout << "replay:    " << (*replay ? "YES (not newer than " + a.seen + ")" : "no")
                << "\n";
    if (stale) std::cout << "age:       " << (*stale ? "TOO OLD" : "ok") << "\n";
    std::cout << "act:       " << (act ? "yes" : "NO") << "\n";
  }
  return act ? kExitPass : kExitFail;
}

const CommandRegistration kRegistration([](CLI::App& root) {
  CLI::App& group = Group(root, "revocation", "Signed revocation events");
  auto args = std::make_shared<Args>();
  CLI::App* cmd = group.add_subcommand("verify", "Verify a signed revocation event");
  cmd->add_option("--key", args->key, "published public key (PEM)")->required();
  cmd->add_option("input", args->input, "the record value (file, or - for stdin)")->required();
  cmd->add_flag("--json", args->json, "JSON output");
  cmd->add_option("--seen", args->seen,
                  "replay state (JSON file): newest revocation acted on per backend and agent");
  cmd->add_option("--max-age", args->max_age_s, "flag events issued more than SECONDS ago")
      ->check(CLI::PositiveNumber);
  cmd->callback([args] { SetExitCode(Run(*args)); });
});

}  // namespace
}  // namespace attest::ctl
