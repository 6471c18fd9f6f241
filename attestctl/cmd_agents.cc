// attestctl agents ...: the registrar's control-plane API.
//   attestctl agents list   [--state S] [--page-size N]
//   attestctl agents show   UUID
//   attestctl agents enrol  UUID --interval S [--pcr-policy F] [--runtime-policy F]
//                           [--mb-policy F] [--grace G] [--ek-sha256 HEX]
//   attestctl agents update UUID [--pcr-policy F] [--runtime-policy F] [--mb-policy F]
//                           [--interval S]
//   attestctl agents remove UUID
// Common: --registrar URL (or $ATTEST_REGISTRAR), --token-file F (or
// $ATTEST_ADMIN_TOKEN_FILE), --ca-file F, --cert F --key F, --json.
// Exit codes: 0 ok, 1 the registrar refused (its problem detail is printed),
// 2 usage or input error (including an unreachable registrar).
#include <google/protobuf/util/json_util.h>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "attestctl/command_registry.h"
#include "common/base/escape.h"
#include "common/base/time_text.h"
#include "registrar/admin_client.h"
#include "registrar/errors.h"

namespace attest::ctl {
namespace {

struct AgentsOptions {
  std::string registrar;
  std::string token_file;
  std::string ca_file;
  std::string cert;
  std::string key;
  bool json = false;
  // per command
  std::string uuid;
  std::string state;
  uint32_t page_size = 0;
  std::string pcr_policy, runtime_policy, mb_policy;
  uint32_t interval = 0;
  double grace = 0;
  std::string ek_sha256;
};

std::string ReadText(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CommandError{kExitUsage, std::string("cannot read ") + what + " " + path};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

registrar::AdminClient Connect(const AgentsOptions& o) {
  registrar::AdminClientOptions c;
  c.base_url = o.registrar;
  if (c.base_url.find("://") == std::string::npos) c.base_url = "https://" + c.base_url;
  c.ca_file = o.ca_file;
  c.cert_file = o.cert;
  c.key_file = o.key;
  if (!o.token_file.empty()) {
    c.token = ReadText(o.token_file, "token file");
    while (!c.token.empty() && std::isspace(static_cast<unsigned char>(c.token.back()))) {
      c.token.pop_back();
    }
  }
  if (c.token.empty() && c.cert_file.empty()) {
    throw CommandError{kExitUsage, "give --token-file or --cert/--key for the admin API"};
  }
  auto client = registrar::AdminClient::Create(c);
  if (!client) throw CommandError{kExitUsage, client.error().ToString()};
  return std::move(client).value();
}

// A refusal by the registrar is exit 1; no answer at all is exit 2.
[[noreturn]] void Fail(const Error& e) {
  bool refused = e.code != registrar::errc::unavailable || e.message.find(": ") < 4;
  throw CommandError{refused ? kExitFail : kExitUsage, e.ToString()};
}

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions p;
  p.add_whitespace = true;
  p.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, p);
  return out;
}

std::string StateName(v1::AgentState s) {
  std::string n = v1::AgentState_Name(s);
  return n.starts_with("AGENT_STATE_") ? n.substr(12) : n;
}

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0) return "-";
  return Rfc3339Utc(t.seconds());
}

void PrintTable(const std::vector<const v1::AgentStatus*>& agents) {
  std::printf("%-36s  %-8s  %-6s  %-9s  %-4s  %-8s  %-20s\n", "UUID", "STATE", "ACTIVE", "INTERVAL",
              "PART", "POLICIES", "LAST ATTESTATION");
  for (const auto* a : agents) {
    const auto& v = a->policy_versions();
    std::string pol = std::to_string(v.pcr()) + "/" + std::to_string(v.runtime()) + "/" +
                      std::to_string(v.measured_boot());
    std::printf("%-36s  %-8s  %-6s  %-9s  %-4d  %-8s  %-20s\n", a->agent_uuid().c_str(),
                StateName(a->state()).c_str(), a->active() ? "yes" : "no",
                a->interval_seconds() ? (std::to_string(a->interval_seconds()) + "s").c_str() : "-",
                a->partition(), pol.c_str(), Time(a->last_attestation()).c_str());
  }
}

void PrintStatus(const AgentsOptions& o, const v1::AgentStatus& s) {
  if (o.json) {
    std::printf("%s\n", Json(s).c_str());
    return;
  }
  PrintTable({&s});
  // The operator compares this with the hash taken from the TPM out of band
  // and pins it with `agents enrol --ek-sha256`.
  if (!s.ek_sha256().empty()) std::printf("  ek_sha256 %s\n", TerminalSafe(s.ek_sha256()).c_str());
  for (const auto& f : s.last_failures()) {
    std::printf("  failure %s %s\n", TerminalSafe(f.event_id()).c_str(),
                TerminalSafe(f.context()).c_str());
  }
}

void RunList(const AgentsOptions& o) {
  auto client = Connect(o);
  v1::AgentState state = v1::AGENT_STATE_UNSPECIFIED;
  if (!o.state.empty()) {
    std::string upper;
    for (char c : o.state) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!v1::AgentState_Parse("AGENT_STATE_" + upper, &state)) {
      throw CommandError{kExitUsage, "unknown state " + o.state +
                                         " (registered, enrolled, pass, failed, offline)"};
    }
  }
  v1::ListAgentsResponse all;
  std::string token;
  do {  // follow the pages
    auto page = client.List(state, o.page_size, token);
    if (!page) Fail(page.error());
    for (auto& a : *page->mutable_agents()) *all.add_agents() = std::move(a);
    token = page->next_page_token();
  } while (!token.empty());
  if (o.json) {
    std::printf("%s\n", Json(all).c_str());
    return;
  }
  std::vector<const v1::AgentStatus*> rows;
  for (const auto& a : all.agents()) rows.push_back(&a);
  PrintTable(rows);
}

void RunShow(const AgentsOptions& o) {
  auto client = Connect(o);
  auto s = client.Show(o.uuid);
  if (!s) Fail(s.error());
  PrintStatus(o, *s);
}

void RunEnrol(const AgentsOptions& o) {
  v1::EnrolRequest req;
  req.set_agent_uuid(o.uuid);
  if (!o.pcr_policy.empty()) req.set_pcr_policy(ReadText(o.pcr_policy, "PCR policy"));
  if (!o.runtime_policy.empty())
    req.set_runtime_policy(ReadText(o.runtime_policy, "runtime policy"));
  if (!o.mb_policy.empty())
    req.set_measured_boot_policy(ReadText(o.mb_policy, "measured-boot policy"));
  req.set_interval_seconds(o.interval);
  req.set_grace_factor(o.grace);
  if (!o.ek_sha256.empty()) {
    if (o.ek_sha256.size() != 64 ||
        o.ek_sha256.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      throw CommandError{kExitUsage, "--ek-sha256: expected 64 hex digits"};
    }
    req.set_ek_sha256(o.ek_sha256);
  }
  auto client = Connect(o);
  auto s = client.Enrol(o.uuid, req);
  if (!s) Fail(s.error());
  PrintStatus(o, *s);
}

void RunUpdate(const AgentsOptions& o) {
  v1::UpdatePoliciesRequest req;
  req.set_agent_uuid(o.uuid);
  auto add = [&](v1::PolicyKind kind, const std::string& file, const char* what) {
    if (file.empty()) return;
    auto* p = req.add_policies();
    p->set_kind(kind);
    p->set_body(ReadText(file, what));
  };
  add(v1::POLICY_KIND_PCR, o.pcr_policy, "PCR policy");
  add(v1::POLICY_KIND_RUNTIME, o.runtime_policy, "runtime policy");
  add(v1::POLICY_KIND_MEASURED_BOOT, o.mb_policy, "measured-boot policy");
  req.set_interval_seconds(o.interval);
  if (req.policies_size() == 0 && o.interval == 0) {
    throw CommandError{kExitUsage, "nothing to update: give a policy file or --interval"};
  }
  auto client = Connect(o);
  auto s = client.UpdatePolicies(o.uuid, req);
  if (!s) Fail(s.error());
  PrintStatus(o, *s);
}

void RunRemove(const AgentsOptions& o) {
  auto client = Connect(o);
  if (auto r = client.Remove(o.uuid); !r) Fail(r.error());
  if (o.json) {
    std::printf("{\"removed\": \"%s\"}\n", o.uuid.c_str());
  } else {
    std::printf("removed %s\n", o.uuid.c_str());
  }
}

void AddCommon(CLI::App& cmd, AgentsOptions& o) {
  cmd.add_option("--registrar", o.registrar, "registrar URL, e.g. https://reg1:8891")
      ->envname("ATTEST_REGISTRAR")
      ->required();
  cmd.add_option("--token-file", o.token_file, "file holding the admin bearer token")
      ->envname("ATTEST_ADMIN_TOKEN_FILE");
  cmd.add_option("--ca-file", o.ca_file, "PEM CA of the registrar's TLS certificate");
  cmd.add_option("--cert", o.cert, "admin client certificate (PEM)");
  cmd.add_option("--key", o.key, "admin client key (PEM)");
  cmd.add_flag("--json", o.json, "print JSON");
}

void AddPolicies(CLI::App& cmd, AgentsOptions& o) {
  cmd.add_option("--pcr-policy", o.pcr_policy, "PCR policy (JSON file)");
  cmd.add_option("--runtime-policy", o.runtime_policy, "Keylime runtime policy (JSON file)");
  cmd.add_option("--mb-policy", o.mb_policy, "measured-boot reference state (JSON file)");
}

const CommandRegistration kRegistration([](CLI::App& root) {
  CLI::App& group = Group(root, "agents", "registrar control plane: list, enrol, update, remove");

  auto list = std::make_shared<AgentsOptions>();
  CLI::App* l = group.add_subcommand("list", "list agents with their state");
  AddCommon(*l, *list);
  l->add_option("--state", list->state, "registered | enrolled | pass | failed | offline");
  l->add_option("--page-size", list->page_size, "agents per request (1..1000)")
      ->check(CLI::Range(1, 1000));
  l->callback([list] { RunList(*list); });

  auto show = std::make_shared<AgentsOptions>();
  CLI::App* s = group.add_subcommand("show", "registration and verifier state of one agent");
  AddCommon(*s, *show);
  s->add_option("uuid", show->uuid, "agent UUID")->required();
  s->callback([show] { RunShow(*show); });

  auto enrol = std::make_shared<AgentsOptions>();
  CLI::App* e = group.add_subcommand("enrol", "enrol an active agent with policies");
  AddCommon(*e, *enrol);
  e->add_option("uuid", enrol->uuid, "agent UUID")->required();
  AddPolicies(*e, *enrol);
  e->add_option("--interval", enrol->interval, "attestation interval in seconds")
      ->required()
      ->check(CLI::Range(1, 86400));
  e->add_option("--grace", enrol->grace, "offline after interval x grace (default 3)");
  e->add_option("--ek-sha256", enrol->ek_sha256,
                "refuse unless the agent registered the EK with this SHA-256 (hex of its "
                "TPM2B_PUBLIC, as `agents show` prints it)");
  e->callback([enrol] { RunEnrol(*enrol); });

  auto update = std::make_shared<AgentsOptions>();
  CLI::App* u = group.add_subcommand("update", "new versions of an enrolled agent's policies");
  AddCommon(*u, *update);
  u->add_option("uuid", update->uuid, "agent UUID")->required();
  AddPolicies(*u, *update);
  u->add_option("--interval", update->interval, "new attestation interval in seconds")
      ->check(CLI::Range(1, 86400));
  u->callback([update] { RunUpdate(*update); });

  auto remove = std::make_shared<AgentsOptions>();
  CLI::App* r = group.add_subcommand("remove", "delete registration, enrolment and policies");
  AddCommon(*r, *remove);
  r->add_option("uuid", remove->uuid, "agent UUID")->required();
  r->callback([remove] { RunRemove(*remove); });
});

}  // namespace
}  // namespace attest::ctl
