// Input probes against both HTTPS services at once: oversized and malformed
// bodies, wrong content types, slow clients, path traversal and bad UUIDs,
// and the registrar's admin authentication. Each must be answered with its
// 4xx (never a 5xx, never a 2xx), the services must keep serving honest
// clients, and the database must be unchanged.
#include <fmt/format.h>

#include <memory>

#include "tests/http/raw_client.h"
#include "tests/probes/probe_fixture.h"

namespace attest::probes {
namespace {

using attest::testing::RawClient;
using namespace std::chrono_literals;

bool Is4xx(const std::string& status) {
  return status.size() == 8 && status.compare(0, 6, "HTTP 4") == 0;
}

class InputProbes : public ProbeTest {
 protected:
  // One raw request over TLS; the status ("HTTP 404") or "closed".
  static std::string Raw(int port, const std::string& request) {
    RawClient c(port, true);
    if (!c.Write(request)) return "closed";
    std::string s = StatusOf(c.ReadResponse());
    return s.empty() ? "closed" : s;
  }
  static std::string Req(const std::string& method, const std::string& path,
                         const std::string& headers = "", const std::string& body = "") {
    return fmt::format("{} {} HTTP/1.1\r\nHost: x\r\n{}Content-Length: {}\r\n\r\n{}", method, path,
                       headers, body.size(), body);
  }
  static std::string Bearer(const std::string& token) {
    return "Authorization: Bearer " + token + "\r\n";
  }
  // Both services answer 4xx to `request`.
  void Both(const std::string& probe, const std::string& expected, const std::string& gw_request,
            const std::string& reg_request) {
    const std::string g = Raw(gateway_->port(), gw_request);
    const std::string r = Raw(registrar_port(), reg_request);
    Record(probe, expected, fmt::format("gateway {}, registrar {}", g, r),
           Is4xx(g) && Is4xx(r) &&
               (expected == "4xx" || (g == "HTTP " + expected && r == "HTTP " + expected)));
  }
  // Both services still answer an honest request.
  bool Serving() {
    auto h = Get("/healthz");
    auto reg = registrar_side_.Agent(registrar_port()).Get("/healthz");
    return h.status == 200 && reg.ok() && reg->status == 200;
  }
};

TEST_F(InputProbes, BodiesContentTypesSlowClientsAndPaths) {
  ProbeAgent a;
  EnrolThroughRegistrar(a, 20);
  ASSERT_FALSE(HasFatalFailure());
  const std::string before = Snapshot();
  const std::string ev_path = "/v1/agents/" + a.uuid() + "/evidence";
  const std::string reg_path = "/v1/agents/" + a.uuid() + "/register";
  const std::string pb = "Content-Type: application/x-protobuf\r\n";
  const std::string json = "Content-Type: application/json\r\n";

  // Oversized: announced by Content-Length (answered before the body), and
  // an actual body over the limit.
  Both("oversized body (Content-Length 100 MB)", "413",
       fmt::format("POST {} HTTP/1.1\r\nHost: x\r\n{}Content-Length: 100000000\r\n\r\n", ev_path,
                   pb),
       fmt::format("POST {} HTTP/1.1\r\nHost: x\r\n{}Content-Length: 100000000\r\n\r\n", reg_path,
                   pb));
  {
    // The gateway's least body limit (kMinBodyBytes, 1 MiB + 64 KiB) + 200 KiB.
    auto r = client_->Post(ev_path, "application/x-protobuf",
                           std::string(gateway::kMinBodyBytes + (200 << 10), 'x'));
    const std::string obs = r.ok() ? fmt::format("HTTP {}", r->status) : "closed";
    Record("oversized body (limit + 200 KiB sent, limit 1 MiB + 64 KiB)", "413 (or closed)",
           "gateway " + obs, obs == "HTTP 413" || obs == "closed");
  }
  // Malformed bodies.
  Both("malformed protobuf", "400", Req("POST", ev_path, pb, "\xff\xff\xff\xff\x0f garbage"),
       Req("POST", reg_path, pb, "\xff\xff\xff\xff\x0f garbage"));
  Both("malformed JSON", "400", Req("POST", ev_path, json, "{\"agentUuid\": "),
       Req("POST", reg_path, json, "{\"agentUuid\": "));
  Both("JSON nested 50,000 deep", "400", Req("POST", ev_path, json, std::string(50000, '[')),
       Req("POST", reg_path, json, std::string(50000, '[')));
  Both("protobuf with a field length past the end", "400",
       Req("POST", ev_path, pb, std::string("\x12\xff\xff\xff\x7f", 5) + "abc"),
       Req("POST", reg_path, pb, std::string("\x12\xff\xff\xff\x7f", 5) + "abc"));
  // Wrong content types.
  for (const char* ct : {"text/plain", "application/xml", "multipart/form-data; boundary=x"}) {
    const std::string h = fmt::format("Content-Type: {}\r\n", ct);
    Both(fmt::format("content type {}", ct), "415", Req("POST", ev_path, h, "{}"),
         Req("POST", reg_path, h, "{}"));
  }
  Both("no content type", "415", Req("POST", ev_path, "", "{}"), Req("POST", reg_path, "", "{}"));

  // Path traversal and bad UUIDs (raw: curl would normalise "..").
  const std::string other = worker::test::RandomUuid();
  const std::vector<std::string> paths = {"/v1/agents/../../etc/passwd/challenges",
                                          "/v1/agents/%2e%2e%2f%2e%2e%2fadmin%2fagents/challenges",
                                          "/v1/agents/" + a.uuid() + "%00/challenges",
                                          "/v1/agents/" + a.uuid() + "/../" + other + "/challenges",
                                          "/v1/agents/" + a.uuid() + "'%20OR%20'1'='1/challenges",
                                          "/v1/agents/" + a.uuid() + "0/challenges",
                                          "/v1/agents//challenges"};
  for (const std::string& p : paths) {
    std::string label = "path " + p;
    for (const auto& [u, name] : {std::pair{a.uuid(), "{uuid}"}, std::pair{other, "{other}"}}) {
      for (size_t at; (at = label.find(u)) != std::string::npos;) label.replace(at, u.size(), name);
    }
    Both(label, "4xx", Req("POST", p, json, "{}"),
         Req("GET", p.substr(0, p.size() - 11) + "/registration"));
  }
  {
    const std::string long_path = "/v1/agents/" + std::string(16 << 10, 'a') + "/challenges";
    const std::string g = Raw(gateway_->port(), Req("POST", long_path, json, "{}"));
    const std::string r = Raw(registrar_port(), Req("GET", long_path));
    Record("16 KiB path", "4xx (or closed)", fmt::format("gateway {}, registrar {}", g, r),
           (Is4xx(g) || g == "closed") && (Is4xx(r) || r == "closed"));
  }
  {
    const std::string g = Raw(gateway_->port(), Req("GET", "/v1/admin/agents", Bearer("x")));
    Record("admin API asked of the gateway", "404", "gateway " + g, g == "HTTP 404");
  }

  // Slow clients: many connections that never finish their headers, plus
  // one that never even starts TLS. Honest clients are served meanwhile,
  // and the server closes the slow ones (header timeout: gateway 1 s here,
  // registrar 10 s by default).
  {
    std::vector<std::unique_ptr<RawClient>> slow;
    for (int i = 0; i < 24; ++i) {
      const bool gw = i % 2 == 0;
      slow.push_back(std::make_unique<RawClient>(gw ? gateway_->port() : registrar_port(), true,
                                                 gw ? 5s : 15s));
      slow.back()->Write(fmt::format("POST {} HTTP/1.1\r\nHost: x\r\nX-Slow: ", ev_path));
    }
    RawClient no_tls(gateway_->port(), false, 5s);
    const bool serving = Serving() && AskChallenge(a.uuid()).status == 200;
    bool closed = no_tls.ReadEof();
    for (auto& c : slow) closed = c->ReadEof() && closed;
    Record("slowloris: 24 connections with unfinished headers + 1 without TLS",
           "honest requests served meanwhile; slow connections closed by the servers",
           fmt::format("served: {}; all slow closed: {}", serving ? "yes" : "no",
                       closed ? "yes" : "no"),
           serving && closed);
  }
  Record("database after the input probes", "unchanged",
         Snapshot() == before ? "unchanged" : "changed", Snapshot() == before);
  EXPECT_TRUE(Serving());
}

TEST_F(InputProbes, RegistrarAdminAuthentication) {
  ProbeAgent a;
  EnrolThroughRegistrar(a, 20);
  ASSERT_FALSE(HasFatalFailure());
  const std::string before = Snapshot();
  const int port = registrar_port();
  const std::string agent_path = "/v1/admin/agents/" + a.uuid();
  const std::string enrol_body = R"({"intervalSeconds": 1})";
  const std::string json = "Content-Type: application/json\r\n";
  const std::string token = RegistrarSide::Token();

  struct Case {
    std::string probe, request, expected;
  };
  const std::vector<Case> cases = {
      {"admin list without credentials", Req("GET", "/v1/admin/agents"), "401"},
      {"admin delete without credentials", Req("DELETE", agent_path), "401"},
      {"admin enrol without credentials", Req("PUT", agent_path + "/enrolment", json, enrol_body),
       "401"},
      {"admin policy update without credentials",
       Req("PATCH", agent_path + "/policies", json, R"({"intervalSeconds": 1})"), "401"},
      {"admin delete with a wrong token",
       Req("DELETE", agent_path, Bearer("wrong-token-000000000")), "403"},
      {"admin enrol with the token truncated",
       Req("PUT", agent_path + "/enrolment", json + Bearer(token.substr(0, token.size() - 1)),
           enrol_body),
       "403"},
      {"admin delete with the token + 1 char", Req("DELETE", agent_path, Bearer(token + "0")),
       "403"},
      {"admin token in the Basic scheme",
       Req("DELETE", agent_path, "Authorization: Basic " + token + "\r\n"), "401|403"},
      {"admin token as a query parameter", Req("DELETE", agent_path + "?token=" + token), "401"},
      {"admin path traversal (with the token)",
       Req("GET", "/v1/admin/agents/..%2F..%2Fetc%2Fpasswd", Bearer(token)), "400|404"},
      {"admin bad UUID (with the token)",
       Req("DELETE", "/v1/admin/agents/" + a.uuid() + "'--", Bearer(token)), "400|404"},
      {"agent path up into the admin API", Req("GET", "/v1/agents/../admin/agents"), "400|401|404"},
  };
  for (const auto& c : cases) {
    const std::string got = Raw(port, c.request);
    bool ok = false;
    std::string_view alternatives = c.expected;  // "400|404"
    while (!alternatives.empty()) {
      const auto bar = alternatives.find('|');
      ok = ok || got == "HTTP " + std::string(alternatives.substr(0, bar));
      alternatives = bar == std::string_view::npos ? "" : alternatives.substr(bar + 1);
    }
    Record("registrar: " + c.probe, c.expected, got, ok);
  }
  // A client certificate of another CA (the server's own) is refused in the
  // TLS handshake; the admin CA's certificate is enough (control).
  {
    registrar::AdminClientOptions o;
    o.base_url = "https://127.0.0.1:" + std::to_string(port);
    o.ca_file = RegistrarSide::CaFile();
    o.cert_file = RegistrarSide::ServerCert().cert.string();
    o.key_file = RegistrarSide::ServerCert().key.string();
    auto foreign = registrar::AdminClient::Create(o);
    ASSERT_TRUE(foreign.ok());
    auto fr = foreign->Remove(a.uuid());
    o.cert_file = RegistrarSide::AdminCert().cert.string();
    o.key_file = RegistrarSide::AdminCert().key.string();
    auto good = registrar::AdminClient::Create(o);
    ASSERT_TRUE(good.ok());
    auto list = good->List();
    Record("registrar: admin client certificate of a foreign CA",
           "TLS handshake refused; admin-CA certificate accepted (control)",
           fmt::format("foreign: {}; admin CA: {}",
                       fr.ok() ? "accepted" : "refused (" + fr.error().message.substr(0, 40) + ")",
                       list.ok() ? "200" : list.error().message),
           !fr.ok() && list.ok());
  }
  {
    auto admin = registrar_side_.Admin(port);
    auto list = admin.List();
    Record("registrar: admin list with the token (control)", "200",
           list.ok() ? "HTTP 200" : list.error().message, list.ok());
  }
  const std::string after = Snapshot();
  Record("registrar: database after the admin probes", "unchanged",
         after == before ? "unchanged" : "changed", after == before);
}

}  // namespace
}  // namespace attest::probes
