// attestctl revocation verify: checks a signed revocation event as published
// on attestation.revocations (the record value, protobuf or JSON encoding).
//
//   attestctl revocation verify --key PUB.pem FILE|-   [--json]
//
// --key is the published public key (PEM; ECDSA P-256 or Ed25519). Prints the
// event (agent, sequence, reason, event ids, key id). Exit codes: 0 valid
// signature, 1 invalid signature, 2 unreadable or malformed input.
#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>

#include "attest/v1/verdict.pb.h"
#include "attestctl/command_registry.h"
#include "attestctl/record_codec.h"
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
};

int Run(const Args& a) {
  auto key = worker::LoadPublicKeyPem(ReadInput(a.key));
  if (!key) throw CommandError{kExitUsage, a.key + ": " + key.error().message};
  const std::string data = ReadInput(a.input);
  auto decoded = DecodeRevocation(data, "");
  if (!decoded) throw CommandError{kExitUsage, a.input + ": " + decoded.error().message};
  const v1::SignedRevocation& sr = decoded->signed_event;
  const v1::RevocationEvent& ev = decoded->event;
  auto ok = worker::VerifyRevocation(sr, key->get());
  if (a.json) {
    std::string body;
    (void)google::protobuf::util::MessageToJsonString(ev, &body);
    std::cout << "{\"valid\":" << (ok ? "true" : "false") << ",\"key_id\":\"" << sr.key_id()
              << "\",\"event\":" << body << "}\n";
  } else {
    std::cout << "agent:     " << ev.agent_uuid() << "\n"
              << "sequence:  " << ev.sequence() << "\n"
              << "reason:    " << ev.reason() << "\n";
    for (const auto& id : ev.event_ids()) std::cout << "event id:  " << id << "\n";
    std::cout << "key id:    " << sr.key_id() << " (" << sr.signature_algorithm() << ")\n"
              << "signature: " << (ok ? "valid" : "INVALID: " + ok.error().message) << "\n";
  }
  return ok ? kExitPass : kExitFail;
}

const CommandRegistration kRegistration([](CLI::App& root) {
  CLI::App& group = Group(root, "revocation", "Signed revocation events");
  auto args = std::make_shared<Args>();
  CLI::App* cmd = group.add_subcommand("verify", "Verify a signed revocation event");
  cmd->add_option("--key", args->key, "published public key (PEM)")->required();
  cmd->add_option("input", args->input, "the record value (file, or - for stdin)")->required();
  cmd->add_flag("--json", args->json, "JSON output");
  cmd->callback([args] { SetExitCode(Run(*args)); });
});

}  // namespace
}  // namespace attest::ctl
