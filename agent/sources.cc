#include "agent/sources.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <tuple>
#include <vector>

#include "agent/errors.h"
#include "common/ima/log.h"

namespace attest::agent {
namespace {

// The verifier's own bounds (ima::Limits): an entry the agent sends is one
// the verifier parses, never an ima.log_malformed FAIL of a healthy host.
constexpr size_t kMaxLine = ima::Limits{}.max_line;
// One binary record: header (pcr, template hash up to sha512, name) + data.
constexpr size_t kMaxRecord = ima::Limits{}.max_template_data + 4 + 64 + 4 + 255 + 4;
constexpr size_t kMaxTemplateName = 255;  // the kernel's are up to 15 bytes
constexpr size_t kLegacyDigest = 20;      // "ima" template: sha1 file digest
constexpr size_t kMaxLegacyName = 255;    // IMA_EVENT_NAME_LEN_MAX
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

// Little-endian, as common/ima's ParseBinary reads it.
uint32_t GetU32(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return uint32_t{u[0]} | uint32_t{u[1]} << 8 | uint32_t{u[2]} << 16 | uint32_t{u[3]} << 24;
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

ImaReader::ImaReader(std::string path, v1::ImaLogFormat format, size_t max_batch_bytes)
    : path_(std::move(path)), format_(format), max_batch_bytes_(max_batch_bytes) {
  // The per-bank lists of newer kernels (binary_runtime_measurements_sha256)
  // hold that bank's template hash; the classic list holds sha1.
  std::string_view base(path_);
  base.remove_prefix(base.rfind('/') + 1);  // npos + 1 == 0: no directory
  binary_hash_ = v1::HASH_ALGORITHM_SHA1;
  binary_hash_size_ = 20;
  for (auto [suffix, alg, size] : {std::tuple{"_sha256", v1::HASH_ALGORITHM_SHA256, 32},
                                   std::tuple{"_sha384", v1::HASH_ALGORITHM_SHA384, 48},
                                   std::tuple{"_sha512", v1::HASH_ALGORITHM_SHA512, 64}}) {
    if (base.ends_with(suffix)) {
      binary_hash_ = alg;
      binary_hash_size_ = static_cast<size_t>(size);
    }
  }
}

Result<size_t> ImaReader::EntryLength(std::string_view buf, uint64_t index) const {
  if (format_ == v1::IMA_LOG_FORMAT_ASCII) {
    size_t nl = buf.find('\n');
    if ((nl == std::string_view::npos ? buf.size() : nl) > kMaxLine) {
      return MakeError(errc::io_error, "IMA list " + path_ + ": line " + std::to_string(index + 1) +
                                           " is longer than 256 KiB");
    }
    return nl == std::string_view::npos ? 0 : nl + 1;
  }
  // Every length is checked against a bound before it is trusted, so a list
  // that is not binary (or is corrupt) fails here rather than make the agent
  // wait for, or allocate, gigabytes.
  auto bad = [&](const std::string& what) {
    return MakeError(errc::io_error, "IMA list " + path_ + " (binary): entry " +
                                         std::to_string(index) + ": " + what);
  };
  size_t p = 4 + binary_hash_size_;  // pcr, template hash
  if (buf.size() < p + 4) return 0;
  const uint32_t name_len = GetU32(buf.data() + p);
  p += 4;
  if (name_len == 0 || name_len > kMaxTemplateName) {
    return bad("template name length " + std::to_string(name_len) +
               " is not 1..255 (is the file an ascii list?)");
  }
  if (buf.size() < p + name_len) return 0;
  const bool legacy = buf.substr(p, name_len) == "ima";
  p += name_len;
  uint64_t total = 0;
  if (legacy) {
    // The "ima" template has no data length: sha1 file digest, u32 name
    // length, name without its NUL.
    if (buf.size() < p + kLegacyDigest + 4) return 0;
    const uint32_t len = GetU32(buf.data() + p + kLegacyDigest);
    if (len > kMaxLegacyName) {
      return bad("ima template name length " + std::to_string(len) + " is above 255");
    }
    total = p + kLegacyDigest + 4 + len;
  } else {
    if (buf.size() < p + 4) return 0;
    const uint32_t len = GetU32(buf.data() + p);
    total = uint64_t{p} + 4 + len;
    if (total > kMaxRecord) {
      return bad("is " + std::to_string(total) + " bytes (template data length " +
                 std::to_string(len) + "), larger than the verifier takes (" +
                 std::to_string(kMaxRecord) + ")");
    }
  }
  if (buf.size() < total) return 0;
  return static_cast<size_t>(total);
}

Result<ImaReader::Snapshot> ImaReader::Read(uint64_t offset, size_t max_bytes) {
  const size_t batch_bytes = std::min(max_bytes, max_batch_bytes_);
  const bool ascii = format_ == v1::IMA_LOG_FORMAT_ASCII;
  Snapshot snap;
  snap.entries.set_start_offset(offset);
  snap.entries.set_format(ascii ? v1::IMA_LOG_FORMAT_ASCII : v1::IMA_LOG_FORMAT_BINARY);
  if (!ascii) snap.entries.set_template_hash_algorithm(binary_hash_);
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
  std::string buf;  // bytes read but not consumed: the start of an entry
  bool batch_full = false;
  uint64_t sent = 0;
  for (;;) {
    const size_t had = buf.size();
    buf.resize(had + kChunk);
    size_t n = 0;
    ATTEST_ASSIGN_OR_RETURN(n, ReadSome(fd.get(), buf.data() + had, kChunk, path_));
    buf.resize(had + n);
    size_t head = 0;
    for (;;) {
      std::string_view rest(buf.data() + head, buf.size() - head);
      size_t len = 0;
      ATTEST_ASSIGN_OR_RETURN(len, EntryLength(rest, index));
      if (len == 0) break;
      std::string_view entry = rest.substr(0, len);
      head += len;
      byte_pos += len;
      if (index >= offset && !batch_full) {
        if (data.size() + len > batch_bytes && sent > 0) {
          batch_full = true;
        } else {
          if (sent == 0 && ascii) {
            snap.entries.set_template_hash_algorithm(
                LineHashAlg(entry.substr(0, entry.size() - 1)));
          }
          data.append(entry);
          ++sent;
        }
      }
      ++index;
      if (index % kCheckpoint == 0 && index / kCheckpoint == checkpoints_.size()) {
        checkpoints_.push_back(byte_pos);
      }
    }
    buf.erase(0, head);
    if (n < kChunk) break;
  }
  // A trailing line without '\n', or a record shorter than its lengths say,
  // is still being written: not counted yet.
  snap.total_entries = index;
  snap.entries.set_entry_count(sent);
  snap.entries.set_data(std::move(data));
  return snap;
}

}  // namespace attest::agent
