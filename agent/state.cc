#include "agent/state.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "agent/errors.h"
#include "common/base/uuid.h"

namespace attest::agent {
namespace {

namespace fs = std::filesystem;
constexpr size_t kMaxStateFile = 1 << 20;

Error IoError(const std::string& what, const fs::path& path) {
  return MakeError(errc::io_error, what + " " + path.string() + ": " + std::strerror(errno));
}

Result<std::string> ReadSmall(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot open", path);
  std::string data(kMaxStateFile + 1, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  if (data.size() > kMaxStateFile) {
    return MakeError(errc::state_corrupt, path.string() + " is larger than 1 MiB");
  }
  return data;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

std::string BlockKey(const ServerBlock& block) {
  auto urls = [](const std::vector<ServerAddress>& v) {
    std::vector<std::string> out;
    for (const auto& a : v) out.push_back(a.Url());
    std::sort(out.begin(), out.end());
    std::string joined;
    for (const auto& u : out) joined += (joined.empty() ? "" : ",") + u;
    return joined;
  };
  return "r=" + urls(block.registrars) + ";v=" + urls(block.verifiers);
}

Result<std::string> NewUuid() {
  std::array<uint8_t, 16> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    return MakeError(errc::io_error, "RAND_bytes failed while generating the agent UUID");
  }
  return UuidText(UuidV4(b));
}

Result<void> WriteFileAtomic(const fs::path& path, const std::string& data) {
  fs::path tmp = path;
  tmp += ".tmp";
  // Always a new file: a symlink or a hard link found at the temporary name
  // (planted, or left by a crash) is removed, never written through by the
  // agent (root), and a leftover's mode is not kept.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return IoError("cannot remove", tmp);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create", tmp);
  auto fail = [&](const char* what, const fs::path& p, bool close_fd) {
    Error e = IoError(what, p);  // errno before close and unlink change it
    if (close_fd) ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  };
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write", tmp, true);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot sync", tmp, true);
  if (::close(fd) != 0) return fail("cannot sync", tmp, false);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename to", path, false);
  return Ok();
}

Result<StateStore> StateStore::Open(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) {
      return MakeError(errc::io_error,
                       "cannot create state directory " + dir.string() + ": " + ec.message());
    }
    ::chmod(dir.c_str(), 0700);
  } else if (!fs::is_directory(dir, ec)) {
    return MakeError(errc::io_error, "state_dir " + dir.string() + " is not a directory");
  }
  StateStore store(dir);
  ATTEST_RETURN_IF_ERROR(store.Load());
  return store;
}

Result<void> StateStore::Load() {
  fs::path path = dir_ / "registration.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return Ok();
  std::string text;
  ATTEST_ASSIGN_OR_RETURN(text, ReadSmall(path));
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("blocks") || !j["blocks"].is_object()) {
    return MakeError(errc::state_corrupt, path.string() +
                                              " is not valid agent state; remove it to "
                                              "register again");
  }
  for (const auto& [key, v] : j["blocks"].items()) {
    if (!v.is_object()) continue;
    BlockRecord r;
    r.uuid = v.value("uuid", "");
    r.ak_name_hex = v.value("ak_name", "");
    r.registered = v.value("registered", false);
    r.last_boot_time = v.value("last_boot_time", int64_t{0});
    blocks_[key] = r;
  }
  return Ok();
}

Result<std::string> StateStore::LoadOrCreateUuid(const std::string& configured) {
  if (!configured.empty()) {
    if (!IsCanonicalUuid(configured)) {
      return MakeError(errc::protocol_error, "configured uuid \"" + configured +
                                                 "\" is not a lower-case 8-4-4-4-12 UUID");
    }
    return configured;
  }
  fs::path path = dir_ / "uuid";
  std::error_code ec;
  if (fs::exists(path, ec)) {
    std::string text;
    ATTEST_ASSIGN_OR_RETURN(text, ReadSmall(path));
    text = Trim(text);
    if (!IsCanonicalUuid(text)) {
      return MakeError(errc::state_corrupt, path.string() + " does not hold a valid UUID");
    }
    return text;
  }
  std::string uuid;
  ATTEST_ASSIGN_OR_RETURN(uuid, NewUuid());
  ATTEST_RETURN_IF_ERROR(WriteFileAtomic(path, uuid + "\n"));
  return uuid;
}

BlockRecord StateStore::Get(const std::string& key) const {
  auto it = blocks_.find(key);
  return it == blocks_.end() ? BlockRecord{} : it->second;
}

Result<void> StateStore::Put(const std::string& key, const BlockRecord& r) {
  blocks_[key] = r;
  nlohmann::json j;
  j["blocks"] = nlohmann::json::object();
  for (const auto& [k, v] : blocks_) {
    j["blocks"][k] = {{"uuid", v.uuid},
                      {"ak_name", v.ak_name_hex},
                      {"registered", v.registered},
                      {"last_boot_time", v.last_boot_time}};
  }
  return WriteFileAtomic(dir_ / "registration.json", j.dump(2) + "\n");
}

}  // namespace attest::agent
