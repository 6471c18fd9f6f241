// Registrations + activations per second the registrar sustains: an
// in-process registrar (2 I/O threads, 4 database workers) over a real
// PostgreSQL (throwaway cluster), driven over HTTPS keep-alive by several
// client threads. Each iteration is one new agent: POST register (the
// registrar parses and checks the keys, makes the credential with RSA-OAEP
// and stores the offer), software ActivateCredential on the client (RSA-2048
// OAEP decryption, KDFa, HMAC, AES-CFB), POST activate. Software EK/AK pairs
// are generated before timing, so no TPM is involved; the client's RSA
// decryption shares the machine's cores with the server.
//
//   registrar_bench --benchmark_min_time=5
#include <benchmark/benchmark.h>
#include <openssl/rand.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

#include "attest/v1/registration.pb.h"
#include "common/httpclient/client.h"
#include "registrar/registrar.h"
#include "registrar/soft_identity.h"
#include "tests/harness/pki/pki.h"
#include "tests/harness/postgres/postgres_server.h"
#include "tests/harness/util/process.h"

namespace {

using attest::registrar::SoftIdentity;

struct Env {
  std::unique_ptr<attest::testing::TempDir> dir;
  std::unique_ptr<attest::testing::PostgresServer> pg;
  std::unique_ptr<attest::testing::TestPki> pki;
  std::unique_ptr<attest::registrar::Registrar> registrar;
  std::vector<SoftIdentity> ids;
  std::string base_url;
};
Env* g_env = nullptr;

std::string NewUuid() {
  uint8_t b[16];
  RAND_bytes(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  char s[37];
  std::snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                b[13], b[14], b[15]);
  return s;
}

std::string Str(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }
std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

void SetUp() {
  g_env = new Env;
  g_env->dir = std::make_unique<attest::testing::TempDir>("registrar-bench");
  g_env->pg = std::make_unique<attest::testing::PostgresServer>();
  std::string conninfo = g_env->pg->CreateDatabase("bench");
  g_env->pg->Migrate(conninfo);
  g_env->pki = std::make_unique<attest::testing::TestPki>(g_env->dir->path());
  auto cert = g_env->pki->IssueServer("registrar");
  std::string token = (g_env->dir->path() / "token").string();
  std::ofstream(token) << "bench-token-0123456789abcdef\n";
  attest::registrar::RegistrarConfig c;
  c.listen_address = "127.0.0.1";
  c.port = 0;
  c.tls_cert = cert.cert.string();
  c.tls_key = cert.key.string();
  c.db_conninfo = conninfo;
  c.db_pool_size = 4;
  c.require_ek_cert = false;
  c.admin_token_file = token;
  auto r = attest::registrar::Registrar::Create(c, /*evidence_partitions=*/12);
  if (!r || !(*r)->Start()) {
    std::fprintf(stderr, "registrar start failed\n");
    std::exit(1);
  }
  g_env->registrar = std::move(r).value();
  g_env->base_url = "https://127.0.0.1:" + std::to_string(g_env->registrar->port());
  for (int i = 0; i < 16; ++i) {
    auto id = SoftIdentity::Generate();
    if (!id) std::exit(1);
    g_env->ids.push_back(std::move(id).value());
  }
}

void BM_RegisterAndActivate(benchmark::State& state) {
  attest::httpclient::ClientOptions o;
  o.base_url = g_env->base_url;
  o.ca_file = g_env->pki->ca_cert().string();
  o.proxy = "";
  auto client = attest::httpclient::Client::Create(o);
  if (!client) {
    state.SkipWithError("client");
    return;
  }
  size_t k = static_cast<size_t>(state.thread_index());
  for (auto _ : state) {
    const SoftIdentity& id = g_env->ids[k++ % g_env->ids.size()];
    std::string uuid = NewUuid();
    attest::v1::RegisterRequest req;
    req.set_agent_uuid(uuid);
    req.set_ek_public(Str(id.ek_public()));
    req.set_ak_public(Str(id.ak_public()));
    auto r = client->Post("/v1/agents/" + uuid + "/register", "application/x-protobuf",
                          req.SerializeAsString());
    attest::v1::RegisterResponse resp;
    if (!r || r->status != 200 || !resp.ParseFromString(r->body)) {
      state.SkipWithError("register failed");
      break;
    }
    auto secret = id.Activate(Bytes(resp.credential_blob()), Bytes(resp.encrypted_secret()));
    if (!secret) {
      state.SkipWithError("activate credential failed");
      break;
    }
    attest::v1::ActivateRequest act;
    act.set_agent_uuid(uuid);
    act.set_auth_tag(Str(SoftIdentity::AuthTag(*secret, uuid)));
    auto a = client->Post("/v1/agents/" + uuid + "/activate", "application/x-protobuf",
                          act.SerializeAsString());
    if (!a || a->status != 200) {
      state.SkipWithError("activate failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["connections"] = static_cast<double>(client->connections_opened());
}
BENCHMARK(BM_RegisterAndActivate)->Threads(1)->Threads(4)->Threads(8)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  setenv("TSS2_LOG", "all+NONE", 1);
  benchmark::Initialize(&argc, argv);
  SetUp();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_env->registrar->Stop(std::chrono::seconds(5));
  delete g_env;
  return 0;
}
