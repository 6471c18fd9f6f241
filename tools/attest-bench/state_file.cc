#include "tools/attest-bench/state_file.h"

#include <openssl/rand.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "tools/attest-bench/errors.h"

namespace attest::bench {
namespace {

constexpr char kMagic[] = "ATTEST-BENCH-STATE 1\n";
constexpr size_t kMaxCount = 10'000'000;

void Put16(std::string& s, uint32_t v) {
  s += static_cast<char>(v >> 8);
  s += static_cast<char>(v & 0xff);
}
void Put32(std::string& s, uint32_t v) {
  Put16(s, v >> 16);
  Put16(s, v & 0xffff);
}

class Reader {
 public:
  explicit Reader(std::istream& in) : in_(in) {}
  bool Read(void* out, size_t n) {
    in_.read(static_cast<char*>(out), static_cast<std::streamsize>(n));
    return static_cast<size_t>(in_.gcount()) == n;
  }
  bool U16(uint32_t& v) {
    uint8_t b[2];
    if (!Read(b, 2)) return false;
    v = uint32_t{b[0]} << 8 | b[1];
    return true;
  }
  bool U32(uint32_t& v) {
    uint8_t b[4];
    if (!Read(b, 4)) return false;
    v = uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
    return true;
  }

 private:
  std::istream& in_;
};

Error Bad(const std::string& path, const std::string& what) {
  return MakeError(errc::bad_state, "state file " + path + ": " + what);
}

}  // namespace

std::array<uint8_t, 16> RandomUuid() {
  std::array<uint8_t, 16> u{};
  if (RAND_bytes(u.data(), 16) != 1) {
    // RAND_bytes only fails when the DRBG cannot be seeded; fall back to
    // std::random_device rather than hand out a fixed UUID.
    std::random_device rd;
    for (auto& b : u) b = static_cast<uint8_t>(rd());
  }
  return UuidV4(u);
}

Result<void> WriteState(const std::string& path, const BenchState& st) {
  if (st.uuids.size() != st.key_of.size()) {
    return MakeError(errc::invalid_argument, "state: agents and key indexes differ in count");
  }
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) return MakeError(errc::io_error, "cannot write " + tmp);
  nlohmann::json h = {{"agents", st.uuids.size()},
                      {"keys", st.keys.size()},
                      {"interval_seconds", st.interval_seconds},
                      {"ima_pool", st.ima_pool},
                      {"policy_name", st.policy_name}};
  std::string buf = kMagic + h.dump() + "\n";
  for (const auto& k : st.keys) {
    buf += static_cast<char>(k.type);
    Put16(buf, static_cast<uint32_t>(k.der.size()));
    buf.append(k.der.begin(), k.der.end());
    if (buf.size() > (1 << 20)) {
      out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      buf.clear();
    }
  }
  for (size_t i = 0; i < st.uuids.size(); ++i) {
    buf.append(st.uuids[i].begin(), st.uuids[i].end());
    Put32(buf, st.key_of[i]);
    if (buf.size() > (1 << 20)) {
      out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      buf.clear();
    }
  }
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  out.close();
  if (!out) return MakeError(errc::io_error, "cannot write " + tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return MakeError(errc::io_error, "cannot rename " + tmp + " to " + path);
  }
  return Ok();
}

Result<BenchState> ReadState(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(errc::io_error, "cannot open state file " + path);
  std::string magic(sizeof kMagic - 1, '\0');
  Reader r(in);
  if (!r.Read(magic.data(), magic.size()) || magic != kMagic) return Bad(path, "bad magic");
  std::string line;
  if (!std::getline(in, line) || line.size() > 4096) return Bad(path, "no header line");
  auto h = nlohmann::json::parse(line, nullptr, false);
  if (h.is_discarded() || !h.is_object()) return Bad(path, "header is not JSON");
  BenchState st;
  size_t agents = 0, keys = 0;
  try {
    agents = h.at("agents").get<size_t>();
    keys = h.at("keys").get<size_t>();
    st.interval_seconds = h.at("interval_seconds").get<uint32_t>();
    st.ima_pool = h.at("ima_pool").get<uint32_t>();
    st.policy_name = h.value("policy_name", "");
  } catch (const std::exception& e) {
    return Bad(path, std::string("header: ") + e.what());
  }
  if (agents > kMaxCount || keys > kMaxCount || (agents > 0 && keys == 0)) {
    return Bad(path, "agent or key count out of range");
  }
  st.keys.resize(keys);
  for (auto& k : st.keys) {
    uint8_t type = 0;
    uint32_t len = 0;
    if (!r.Read(&type, 1) || !r.U16(len)) return Bad(path, "truncated key");
    if (type != 1 && type != 2) return Bad(path, "unknown key type");
    if (len == 0 || len > 4096) return Bad(path, "key length out of range");
    k.type = static_cast<KeyType>(type);
    k.der.resize(len);
    if (!r.Read(k.der.data(), len)) return Bad(path, "truncated key");
  }
  st.uuids.resize(agents);
  st.key_of.resize(agents);
  for (size_t i = 0; i < agents; ++i) {
    if (!r.Read(st.uuids[i].data(), 16) || !r.U32(st.key_of[i])) {
      return Bad(path, "truncated agent list");
    }
    if (st.key_of[i] >= keys) return Bad(path, "key index out of range");
  }
  return st;
}

}  // namespace attest::bench
