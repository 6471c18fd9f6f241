#include "agent/sources.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <vector>

#include "agent/errors.h"

namespace attest::agent {
namespace {

constexpr size_t kMaxLine = 256 * 1024;  // as ima::Limits::max_line
constexpr size_t kChunk = 64 * 1024;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Error Io(const std::string& what, const std::string& path) {
  return MakeError(errc::io_error, what + " " + path + ": " + std::strerror(errno));
}

// Reads up to `n` bytes (fewer only at EOF).
Result<size_t> ReadSome(int fd, char* buf, size_t n, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::read(fd, buf + done, n - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Io("cannot read", path);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

v1::HashAlgorithm AlgFromHexLength(size_t n) {
  switch (n) {
    case 40:
      return v1::HASH_ALGORITHM_SHA1;
    case 64:
      return v1::HASH_ALGORITHM_SHA256;
    case 96:
      return v1::HASH_ALGORITHM_SHA384;
    case 128:
      return v1::HASH_ALGORITHM_SHA512;
    default:
      return v1::HASH_ALGORITHM_UNSPECIFIED;
  }
}

// The template-hash column of an ascii line: "<pcr> <hash> <template> ...".
v1::HashAlgorithm LineHashAlg(std::string_view line) {
  auto a = line.find(' ');
  if (a == std::string_view::npos) return v1::HASH_ALGORITHM_UNSPECIFIED;
  auto b = line.find(' ', a + 1);
  if (b == std::string_view::npos) return v1::HASH_ALGORITHM_UNSPECIFIED;
  return AlgFromHexLength(b - a - 1);
}

}  // namespace

Result<int64_t> BootTime(int64_t override_epoch, const std::string& proc_stat) {
  if (override_epoch != 0) return override_epoch;
  std::string text;
  ATTEST_ASSIGN_OR_RETURN(text, ReadBounded(proc_stat, 4 << 20));
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    if (line.starts_with("btime ")) {
      int64_t v = 0;
      auto digits = line.substr(6);
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec == std::errc() && v > 0) return v;
      break;
    }
    pos = end + 1;
  }
  return MakeError(errc::io_error, proc_stat + " has no valid btime line");
}

Result<std::string> ReadBounded(const std::string& path, size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Io("cannot open", path);
  std::string out;
  std::vector<char> buf(kChunk);
  for (;;) {
    size_t n = 0;
    ATTEST_ASSIGN_OR_RETURN(n, ReadSome(fd.get(), buf.data(), buf.size(), path));
    if (out.size() + n > max_bytes) {
      return MakeError(errc::io_error, path + " is larger than the limit of " +
                                           std::to_string(max_bytes) + " bytes");
    }
    out.append(buf.data(), n);
    if (n < buf.size()) return out;
  }
}

Result<ImaReader::Snapshot> ImaReader::Read(uint64_t offset) {
  Snapshot snap;
  snap.entries.set_start_offset(offset);
  snap.entries.set_format(v1::IMA_LOG_FORMAT_ASCII);
  Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return snap;
    return Io("cannot open IMA list", path_);
  }
  snap.available = true;
  // Start at the last checkpoint at or before `offset` (entry k * kCheckpoint
  // starts at byte checkpoints_[k]): the list is append-only within a boot,
  // so only the requested entries and what is new are read again.
  if (checkpoints_.empty()) checkpoints_.push_back(0);
  size_t k = std::min<uint64_t>(offset / kCheckpoint, checkpoints_.size() - 1);
  uint64_t index = k * kCheckpoint;
  uint64_t byte_pos = checkpoints_[k];
  if (::lseek(fd.get(), static_cast<off_t>(byte_pos), SEEK_SET) != static_cast<off_t>(byte_pos)) {
    return Io("cannot seek in IMA list", path_);
  }
  std::string data;
  std::string partial;  // an incomplete line carried over between chunks
  std::vector<char> buf(kChunk);
  bool batch_full = false;
  uint64_t sent = 0;
  for (;;) {
    size_t n = 0;
    ATTEST_ASSIGN_OR_RETURN(n, ReadSome(fd.get(), buf.data(), buf.size(), path_));
    size_t start = 0;
    for (size_t i = 0; i < n; ++i) {
      if (buf[i] != '\n') continue;
      partial.append(buf.data() + start, i - start);
      start = i + 1;
      byte_pos += partial.size() + 1;
      if (index >= offset && !batch_full) {
        if (data.size() + partial.size() + 1 > max_batch_bytes_ && sent > 0) {
          batch_full = true;
        } else {
          if (sent == 0) snap.entries.set_template_hash_algorithm(LineHashAlg(partial));
          data.append(partial).push_back('\n');
          ++sent;
        }
      }
      ++index;
      partial.clear();
      if (index % kCheckpoint == 0 && index / kCheckpoint == checkpoints_.size()) {
        checkpoints_.push_back(byte_pos);
      }
    }
    partial.append(buf.data() + start, n - start);
    if (partial.size() > kMaxLine) {
      return MakeError(errc::io_error, "IMA list " + path_ + ": line " + std::to_string(index + 1) +
                                           " is longer than 256 KiB");
    }
    if (n < buf.size()) break;
  }
  // A trailing line without '\n' is still being written: not counted yet.
  snap.total_entries = index;
  snap.entries.set_entry_count(sent);
  snap.entries.set_data(std::move(data));
  return snap;
}

}  // namespace attest::agent
