#include "common/ima/log.h"

#include <cstring>

#include "common/ima/errors.h"

namespace attest::ima {
namespace {

constexpr size_t kLegacyNameSize = 256;  // IMA_EVENT_NAME_LEN_MAX + 1
constexpr size_t kMaxAlgoName = 32;
constexpr size_t kMaxTemplateName = 32;

Error ParseError(std::string msg) { return MakeError(errc::parse_error, std::move(msg)); }

std::optional<Template> TemplateFromName(std::string_view name) {
  if (name == "ima-ng") return Template::kImaNg;
  if (name == "ima-sig") return Template::kImaSig;
  if (name == "ima-buf") return Template::kImaBuf;
  if (name == "ima") return Template::kIma;
  return std::nullopt;
}

void PutU32(std::string& out, uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
               static_cast<char>(v >> 24)};
  out.append(b, 4);
}

uint32_t GetU32(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return uint32_t{u[0]} | uint32_t{u[1]} << 8 | uint32_t{u[2]} << 16 | uint32_t{u[3]} << 24;
}

Span32 SpanAt(size_t off, size_t len) {
  return Span32{static_cast<uint32_t>(off), static_cast<uint32_t>(len)};
}

// Appends a length-prefixed field and returns the span of its body.
Span32 AppendField(std::string& data, std::string_view body) {
  PutU32(data, static_cast<uint32_t>(body.size()));
  size_t off = data.size();
  data.append(body);
  return SpanAt(off, body.size());
}

// Appends the d-ng field: "algo:\0" + digest when algo is set, else digest.
void AppendDigestNg(Entry& e, std::string_view algo, std::string_view digest) {
  size_t len = algo.empty() ? digest.size() : algo.size() + 2 + digest.size();
  PutU32(e.data, static_cast<uint32_t>(len));
  if (!algo.empty()) {
    e.digest_algo = SpanAt(e.data.size(), algo.size());
    e.data.append(algo);
    e.data.push_back(':');
    e.data.push_back('\0');
  } else {
    e.digest_algo = SpanAt(e.data.size(), 0);
  }
  e.digest = SpanAt(e.data.size(), digest.size());
  e.data.append(digest);
}

void AppendNameNg(Entry& e, std::string_view name) {
  PutU32(e.data, static_cast<uint32_t>(name.size() + 1));
  e.name = SpanAt(e.data.size(), name.size());
  e.data.append(name);
  e.data.push_back('\0');
}

Result<void> BuildLegacy(Entry& e, std::string_view digest, std::string_view name) {
  if (digest.size() != 20 && digest.size() != 16) {
    return ParseError("ima template digest must be 20 (sha1) or 16 (md5) bytes");
  }
  if (name.size() >= kLegacyNameSize) return ParseError("ima template name longer than 255 bytes");
  if (name.find('\0') != std::string_view::npos) return ParseError("name contains a NUL byte");
  e.data.clear();
  e.digest_algo = SpanAt(0, 0);
  e.digest = SpanAt(0, digest.size());
  e.data.append(digest);
  e.name = SpanAt(e.data.size(), name.size());
  e.data.append(name);
  e.data.append(kLegacyNameSize - name.size(), '\0');
  e.sig = e.buf = SpanAt(e.data.size(), 0);
  return Ok();
}

Result<void> CheckAlgoAndDigest(std::string_view algo, size_t digest_size) {
  if (algo.size() > kMaxAlgoName) return ParseError("digest algorithm name too long");
  for (char c : algo) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      return ParseError("bad character in digest algorithm name");
    }
  }
  if (digest_size == 0 || digest_size > kMaxDigestSize) return ParseError("bad file digest length");
  return Ok();
}

Result<void> BuildNg(Entry& e, Template t, std::string_view algo, std::string_view digest,
                     std::string_view name, std::string_view extra, const Limits& limits) {
  if (auto r = CheckAlgoAndDigest(algo, digest.size()); !r) return r.error();
  if (name.size() > limits.max_path) return ParseError("path longer than the limit");
  if (name.find('\0') != std::string_view::npos) return ParseError("name contains a NUL byte");
  size_t total = 16 + algo.size() + digest.size() + name.size() + extra.size();
  if (total > limits.max_template_data) return ParseError("template data longer than the limit");
  e.data.clear();
  AppendDigestNg(e, algo, digest);
  AppendNameNg(e, name);
  e.sig = e.buf = SpanAt(e.data.size(), 0);
  if (t == Template::kImaSig) e.sig = AppendField(e.data, extra);
  if (t == Template::kImaBuf) e.buf = AppendField(e.data, extra);
  return Ok();
}

// Splits off the next space-delimited token (like Python's split(" ", n)).
bool NextToken(std::string_view& rest, std::string_view& token) {
  size_t sp = rest.find(' ');
  if (sp == std::string_view::npos) return false;
  token = rest.substr(0, sp);
  rest.remove_prefix(sp + 1);
  return true;
}

bool ParseDecimal(std::string_view s, uint32_t& out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

// Parses the d-ng text "algo:hex" or "hex" into scratch buffers.
Result<void> ParseDigestText(std::string_view text, std::string_view& algo, std::string& digest) {
  size_t colon = text.find(':');
  std::string_view hex = text;
  algo = {};
  if (colon != std::string_view::npos) {
    algo = text.substr(0, colon);
    hex = text.substr(colon + 1);
    if (algo.empty()) return ParseError("empty digest algorithm");
  }
  if (hex.size() > 2 * kMaxDigestSize || !FromHex(hex, digest)) {
    return ParseError("file digest is not valid hex");
  }
  return Ok();
}

}  // namespace

std::string_view TemplateName(Template t) {
  switch (t) {
    case Template::kIma:
      return "ima";
    case Template::kImaNg:
      return "ima-ng";
    case Template::kImaSig:
      return "ima-sig";
    case Template::kImaBuf:
      return "ima-buf";
  }
  return "unknown";
}

Format DetectFormat(std::string_view data) {
  if (!data.empty() && data[0] >= '0' && data[0] <= '9') return Format::kAscii;
  if (data.empty()) return Format::kAscii;
  return Format::kBinary;
}

Result<void> ParseAsciiLine(std::string_view line, HashAlg alg, const Limits& limits, Entry& e) {
  if (line.size() > limits.max_line) return ParseError("line longer than the limit");
  std::string_view rest = line, pcr, thash, tname;
  if (!NextToken(rest, pcr) || !NextToken(rest, thash) || !NextToken(rest, tname)) {
    return ParseError("expected 'PCR template-hash template-name fields'");
  }
  if (!ParseDecimal(pcr, e.pcr)) return ParseError("PCR index is not a number");
  size_t hsize = DigestSize(alg);
  e.template_hash.size = static_cast<uint8_t>(hsize);
  if (!FromHexFixed(thash, {e.template_hash.bytes.data(), hsize})) {
    return ParseError("template hash is not " + std::to_string(hsize * 2) + " hex digits (" +
                      std::string(HashName(alg)) + ")");
  }
  auto t = TemplateFromName(tname);
  if (!t) {
    return ParseError("unsupported template '" + std::string(tname.substr(0, kMaxTemplateName)) +
                      "'");
  }
  e.tmpl = *t;
  std::string_view digest_text, algo;
  // Thread-local scratch keeps the hot path free of per-line allocations.
  thread_local std::string digest, extra;
  if (e.tmpl == Template::kIma || e.tmpl == Template::kImaNg) {
    // The path is the remainder and may contain spaces.
    if (!NextToken(rest, digest_text)) return ParseError("expected 'digest path'");
    if (auto r = ParseDigestText(digest_text, algo, digest); !r) return r;
    if (e.tmpl == Template::kIma) {
      if (!algo.empty()) return ParseError("ima template digest has no algorithm prefix");
      return BuildLegacy(e, digest, rest);
    }
    return BuildNg(e, e.tmpl, algo, digest, rest, {}, limits);
  }
  std::string_view name;
  if (!NextToken(rest, digest_text) || !NextToken(rest, name)) {
    return ParseError("expected 'digest name data'");
  }
  if (auto r = ParseDigestText(digest_text, algo, digest); !r) return r;
  if (rest.size() > 2 * limits.max_template_data || !FromHex(rest, extra)) {
    return ParseError(e.tmpl == Template::kImaSig ? "signature is not valid hex"
                                                  : "buffer is not valid hex");
  }
  return BuildNg(e, e.tmpl, algo, digest, name, extra, limits);
}

Result<Log> ParseAscii(std::string_view text, std::optional<HashAlg> alg, const Limits& limits) {
  Log log;
  size_t lineno = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++lineno;
    if (line.empty()) continue;
    if (!alg) {
      // Infer the bank from the template-hash column of the first entry.
      size_t a = line.find(' ');
      size_t b = a == std::string_view::npos ? a : line.find(' ', a + 1);
      std::optional<HashAlg> inferred;
      if (b != std::string_view::npos && (b - a - 1) % 2 == 0) {
        inferred = HashFromSize((b - a - 1) / 2);
      }
      if (!inferred) {
        return ParseError("line " + std::to_string(lineno) +
                          ": template hash length matches no sha1/sha256/sha384/sha512 bank");
      }
      alg = inferred;
    }
    if (log.entries.size() >= limits.max_entries) {
      return MakeError(errc::limit_exceeded,
                       "more than " + std::to_string(limits.max_entries) + " entries");
    }
    Entry& e = log.entries.emplace_back();
    if (auto r = ParseAsciiLine(line, *alg, limits, e); !r) {
      return ParseError("line " + std::to_string(lineno) + ": " + r.error().message);
    }
  }
  log.template_hash_alg = alg.value_or(HashAlg::kSha1);
  return log;
}

namespace {

// Splits binary template data into its fields and fills the spans.
Result<void> SplitNgFields(Entry& e) {
  std::string_view d = e.data;
  size_t pos = 0;
  size_t nfields = e.tmpl == Template::kImaNg ? 2 : 3;
  Span32 fields[3];
  for (size_t i = 0; i < nfields; ++i) {
    if (d.size() - pos < 4) return ParseError("template field length truncated");
    uint32_t len = GetU32(d.data() + pos);
    pos += 4;
    if (len > d.size() - pos) return ParseError("template field longer than the template data");
    fields[i] = SpanAt(pos, len);
    pos += len;
  }
  if (pos != d.size()) return ParseError("trailing bytes after the template fields");
  // d-ng: "algo:\0digest" or a bare digest.
  std::string_view dng = e.Field(fields[0]);
  size_t nul = dng.find('\0');
  if (nul != std::string_view::npos && nul > 0 && dng[nul - 1] == ':') {
    e.digest_algo = SpanAt(fields[0].off, nul - 1);
    e.digest = SpanAt(fields[0].off + nul + 1, dng.size() - nul - 1);
  } else {
    e.digest_algo = SpanAt(fields[0].off, 0);
    e.digest = fields[0];
  }
  if (auto r = CheckAlgoAndDigest(e.algo(), e.digest.len); !r) return r;
  std::string_view nng = e.Field(fields[1]);
  if (nng.empty() || nng.back() != '\0' || nng.find('\0') != nng.size() - 1) {
    return ParseError("name field is not one NUL-terminated string");
  }
  e.name = SpanAt(fields[1].off, fields[1].len - 1);
  e.sig = e.buf = SpanAt(d.size(), 0);
  if (e.tmpl == Template::kImaSig) e.sig = fields[2];
  if (e.tmpl == Template::kImaBuf) e.buf = fields[2];
  return Ok();
}

}  // namespace

Result<Log> ParseBinary(std::string_view data, HashAlg alg, const Limits& limits) {
  Log log;
  log.template_hash_alg = alg;
  const size_t hsize = DigestSize(alg);
  size_t pos = 0;
  while (pos < data.size()) {
    size_t index = log.entries.size();
    auto fail = [&](const std::string& what) {
      return ParseError("entry " + std::to_string(index) + " at offset " + std::to_string(pos) +
                        ": " + what);
    };
    if (index >= limits.max_entries) {
      return MakeError(errc::limit_exceeded,
                       "more than " + std::to_string(limits.max_entries) + " entries");
    }
    size_t p = pos;
    auto need = [&](size_t n) { return data.size() - p >= n; };
    if (!need(4 + hsize + 4)) return fail("truncated entry header");
    Entry e;
    e.pcr = GetU32(data.data() + p);
    p += 4;
    e.template_hash = Digest::From(AsBytes(data.substr(p, hsize)));
    p += hsize;
    uint32_t name_len = GetU32(data.data() + p);
    p += 4;
    if (name_len > kMaxTemplateName || !need(name_len)) return fail("bad template name length");
    auto t = TemplateFromName(data.substr(p, name_len));
    if (!t) return fail("unsupported template name");
    e.tmpl = *t;
    p += name_len;
    if (e.tmpl == Template::kIma) {
      // Legacy layout: 20-byte digest, then u32 strlen(name) and the name.
      if (!need(20 + 4)) return fail("truncated ima template data");
      std::string_view digest = data.substr(p, 20);
      p += 20;
      uint32_t len = GetU32(data.data() + p);
      p += 4;
      if (len >= kLegacyNameSize || !need(len)) return fail("bad ima template name length");
      if (auto r = BuildLegacy(e, digest, data.substr(p, len)); !r) return fail(r.error().message);
      p += len;
    } else {
      if (!need(4)) return fail("truncated template data length");
      uint32_t len = GetU32(data.data() + p);
      p += 4;
      if (len > limits.max_template_data) return fail("template data longer than the limit");
      if (!need(len)) return fail("template data truncated");
      e.data.assign(data.substr(p, len));
      p += len;
      if (auto r = SplitNgFields(e); !r) return fail(r.error().message);
      if (e.name.len > limits.max_path) return fail("path longer than the limit");
    }
    log.entries.push_back(std::move(e));
    pos = p;
  }
  return log;
}

Result<Log> Parse(std::string_view data, std::optional<HashAlg> alg, const Limits& limits) {
  if (DetectFormat(data) == Format::kAscii) return ParseAscii(data, alg, limits);
  return ParseBinary(data, alg.value_or(HashAlg::kSha1), limits);
}

std::string WriteBinary(const Log& log) {
  std::string out;
  for (const Entry& e : log.entries) {
    PutU32(out, e.pcr);
    out.append(reinterpret_cast<const char*>(e.template_hash.bytes.data()), e.template_hash.size);
    std::string_view name = TemplateName(e.tmpl);
    PutU32(out, static_cast<uint32_t>(name.size()));
    out.append(name);
    if (e.tmpl == Template::kIma) {
      out.append(e.Field(e.digest));
      PutU32(out, static_cast<uint32_t>(e.name.len));
      out.append(e.path());
    } else {
      PutU32(out, static_cast<uint32_t>(e.data.size()));
      out.append(e.data);
    }
  }
  return out;
}

std::string WriteAscii(const Log& log) {
  std::string out;
  for (const Entry& e : log.entries) {
    out += std::to_string(e.pcr);
    out += ' ';
    out += ToHex(e.template_hash);
    out += ' ';
    out += TemplateName(e.tmpl);
    out += ' ';
    if (!e.algo().empty()) {
      out += e.algo();
      out += ':';
    }
    out += ToHex(e.file_digest());
    out += ' ';
    out += e.path();
    if (e.tmpl == Template::kImaSig) {
      out += ' ';
      out += ToHex(e.signature());
    } else if (e.tmpl == Template::kImaBuf) {
      out += ' ';
      out += ToHex(e.buffer());
    }
    out += '\n';
  }
  return out;
}

Result<Entry> MakeEntry(Template t, std::string_view digest_algo, std::span<const uint8_t> digest,
                        std::string_view name, std::span<const uint8_t> sig_or_buf,
                        const Limits& limits) {
  Entry e;
  e.tmpl = t;
  std::string_view d(reinterpret_cast<const char*>(digest.data()), digest.size());
  std::string_view x(reinterpret_cast<const char*>(sig_or_buf.data()), sig_or_buf.size());
  Result<void> r = t == Template::kIma ? BuildLegacy(e, d, name)
                                       : BuildNg(e, t, digest_algo, d, name, x, limits);
  if (!r) return r.error();
  return e;
}

}  // namespace attest::ima
