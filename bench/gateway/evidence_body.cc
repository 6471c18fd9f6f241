// Writes a benchmark evidence body (bench/gateway/evidence.h) for wrk:
//   gateway_evidence_body KEY_FILE UUID OUT_FILE
// KEY_FILE is the gateway's token.key_files[0]. Exit 0 on success, 1 else.
#include <cstdio>
#include <fstream>
#include <string>

#include "bench/gateway/evidence.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s KEY_FILE UUID OUT_FILE\n", argv[0]);
    return 1;
  }
  auto keys = attest::token::KeySet::LoadFiles({argv[1]});
  if (!keys) {
    std::fprintf(stderr, "%s\n", keys.error().ToString().c_str());
    return 1;
  }
  auto body = attest::bench::EvidenceBody(*keys, argv[2]);
  if (!body) {
    std::fprintf(stderr, "%s\n", body.error().ToString().c_str());
    return 1;
  }
  std::ofstream out(argv[3], std::ios::binary);
  out << *body;
  return out.good() ? 0 : 1;
}
