#include "common/ima/policy.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "common/ima/errors.h"
#include "common/ima/keyring.h"

namespace attest::ima {
namespace {

using nlohmann::json;

Error PolicyError(std::string msg) { return MakeError(errc::policy_error, std::move(msg)); }

// Policy digests are hex, optionally "algo:hex" (Keylime generator 2).
bool DecodeDigest(std::string_view text, std::string& raw) {
  size_t colon = text.find(':');
  if (colon != std::string_view::npos) text.remove_prefix(colon + 1);
  if (text.empty() || text.size() > 2 * kMaxDigestSize) return false;
  return FromHex(text, raw);
}

Result<void> ParseDigestMap(const json& j, std::string_view key, DigestMap& out,
                            const PolicyLimits& limits) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Ok();
  if (!it->is_object()) return PolicyError("'" + std::string(key) + "' is not an object");
  out.reserve(it->size());
  std::string raw;
  for (const auto& [name, list] : it->items()) {
    if (!list.is_array()) {
      return PolicyError("'" + std::string(key) + "' entry '" + name + "' is not a list");
    }
    if (list.size() > limits.max_digests_per_name) {
      return PolicyError("'" + std::string(key) + "' entry '" + name + "' has too many digests");
    }
    DigestList& dl = out[name];
    for (const auto& d : list) {
      if (!d.is_string() || !DecodeDigest(d.get_ref<const std::string&>(), raw)) {
        return PolicyError("'" + std::string(key) + "' entry '" + name +
                           "': digest is not a hex string");
      }
      dl.Add(raw);
    }
  }
  return Ok();
}

json DigestMapJson(const DigestMap& m) {
  // Sorted output keeps generated policies stable and diffable.
  std::map<std::string_view, const DigestList*> sorted;
  for (const auto& [k, v] : m) sorted.emplace(k, &v);
  json out = json::object();
  for (const auto& [k, v] : sorted) {
    json list = json::array();
    for (const auto& d : v->items()) list.push_back(ToHex(AsBytes(d)));
    out[std::string(k)] = std::move(list);
  }
  return out;
}

// Turns a regex made of plain characters and escaped punctuation ("\\.")
// into the literal it matches; false when it has any other regex syntax.
bool Unescape(std::string_view s, std::string& out) {
  out.clear();
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      if (i + 1 >= s.size()) return false;
      char n = s[++i];
      if (std::isalnum(static_cast<unsigned char>(n)) || n == '_') return false;  // \d, \w, \1...
      out.push_back(n);
    } else if (std::string_view("^$.|?*+()[]{}").find(c) != std::string_view::npos) {
      return false;
    } else {
      out.push_back(c);
    }
  }
  return true;
}

// The literal text every match of `s` starts with ("" when unknown).
std::string LiteralPrefix(std::string_view s) {
  if (s.find('|') != std::string_view::npos) return "";  // alternatives: no common prefix
  std::string out;
  size_t i = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      if (i + 1 >= s.size()) break;
      char n = s[i + 1];
      if (std::isalnum(static_cast<unsigned char>(n)) || n == '_') break;
      out.push_back(n);
      ++i;
    } else if (std::string_view("^$.|?*+()[]{}").find(c) != std::string_view::npos) {
      break;
    } else {
      out.push_back(c);
    }
  }
  // A quantifier applies to the last literal character: it is not required.
  if (i < s.size() && std::string_view("?*{").find(s[i]) != std::string_view::npos &&
      !out.empty()) {
    out.pop_back();
  }
  return out;
}

// A bound on brace repetition: libstdc++ expands {n} into n NFA copies, so a
// pattern like "(a{1000}){1000}" would otherwise exhaust memory.
bool RepetitionTooLarge(std::string_view s) {
  uint64_t product = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '{') continue;
    uint64_t n = 0;
    size_t j = i + 1;
    while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == ',')) {
      if (s[j] != ',') n = std::min<uint64_t>(n * 10 + static_cast<uint64_t>(s[j] - '0'), 1u << 20);
      ++j;
    }
    product *= std::max<uint64_t>(n, 1);
    if (product > 1000) return true;
  }
  return false;
}

}  // namespace

bool DigestList::Contains(std::span<const uint8_t> d) const {
  for (const auto& item : items_) {
    if (item.size() == d.size() && std::equal(d.begin(), d.end(), AsBytes(item).begin())) {
      return true;
    }
  }
  return false;
}

void DigestList::Add(std::string raw) {
  if (std::find(items_.begin(), items_.end(), raw) == items_.end())
    items_.push_back(std::move(raw));
}

RuntimePolicy::RuntimePolicy() = default;

// __polynomial (libstdc++) selects the breadth-first executor: matching time
// stays linear in the path length, where the default backtracking executor
// is exponential on patterns like "(a*)*b" that a crafted path could hit,
// and recurses once per character. It rejects back-references.
constexpr auto kRegexFlags =
    std::regex::ECMAScript | std::regex::optimize | std::regex_constants::__polynomial;

Result<void> RuntimePolicy::SetExcludes(std::vector<std::string> excludes,
                                        const PolicyLimits& limits) {
  if (excludes.size() > limits.max_excludes) return PolicyError("too many excludes");
  std::vector<std::string> prefix, exact, suffix, contains;
  std::vector<RegexExclude> regexes;
  std::string lit;
  for (const auto& e : excludes) {
    if (e.size() > limits.max_exclude_length) return PolicyError("exclude longer than the limit");
    std::string_view s = e;
    if (!s.empty() && s.front() == '^') s.remove_prefix(1);  // re.match is anchored anyway
    bool any_prefix = s.starts_with(".*");
    std::string_view body = any_prefix ? s.substr(2) : s;
    if (body.ends_with(".*") && !body.ends_with("\\.*")) body.remove_suffix(2);
    bool anchored_end = body.ends_with('$') && !body.ends_with("\\$");
    if (anchored_end) body.remove_suffix(1);
    if (Unescape(body, lit)) {
      if (any_prefix) {
        (anchored_end ? suffix : contains).push_back(lit);
      } else {
        (anchored_end ? exact : prefix).push_back(lit);
      }
      continue;
    }
    if (RepetitionTooLarge(e)) return PolicyError("exclude '" + e + "': repetition too large");
    try {
      // Grouped as in Keylime's combined "(e1)|(e2)" so a top-level '|'
      // stays inside this exclude.
      regexes.push_back(RegexExclude{
          LiteralPrefix(s), std::make_shared<const std::regex>("(" + e + ")", kRegexFlags)});
    } catch (const std::regex_error& err) {
      return PolicyError("exclude '" + e + "': invalid regular expression: " + err.what());
    }
  }
  prefix_excludes_ = std::move(prefix);
  exact_excludes_ = std::move(exact);
  suffix_excludes_ = std::move(suffix);
  contains_excludes_ = std::move(contains);
  regex_excludes_ = std::move(regexes);
  excludes_ = std::move(excludes);
  return Ok();
}

bool RuntimePolicy::Excluded(std::string_view path) const {
  for (const auto& p : prefix_excludes_) {
    if (path.starts_with(p)) return true;
  }
  for (const auto& p : exact_excludes_) {
    if (path == p) return true;
  }
  // ".*" does not cross a newline (Python and ECMAScript alike).
  size_t newline = path.find('\n');
  for (const auto& p : suffix_excludes_) {
    if (newline == std::string_view::npos && path.ends_with(p)) return true;
  }
  for (const auto& p : contains_excludes_) {
    size_t pos = path.find(p);
    if (pos != std::string_view::npos && (newline == std::string_view::npos || pos < newline)) {
      return true;
    }
  }
  for (const auto& r : regex_excludes_) {
    if (!path.starts_with(r.prefix)) continue;
    try {
      if (std::regex_search(path.begin(), path.end(), *r.regex,
                            std::regex_constants::match_continuous)) {
        return true;
      }
    } catch (const std::regex_error&) {
      // Too complex to evaluate: not excluded (fail closed).
    }
  }
  return false;
}

bool RuntimePolicy::KeyringIgnored(std::string_view keyring) const {
  for (const auto& k : ignored_keyrings_) {
    if (k == "*" || k == keyring) return true;
  }
  return false;
}

void RuntimePolicy::AddDigest(std::string_view path, std::span<const uint8_t> d) {
  digests_[std::string(path)].Add(std::string(d.begin(), d.end()));
}
void RuntimePolicy::AddKeyring(std::string_view name, std::span<const uint8_t> d) {
  keyrings_[std::string(name)].Add(std::string(d.begin(), d.end()));
}
void RuntimePolicy::AddImaBuf(std::string_view name, std::span<const uint8_t> d) {
  ima_buf_[std::string(name)].Add(std::string(d.begin(), d.end()));
}

Result<RuntimePolicy> RuntimePolicy::Parse(std::string_view text, const PolicyLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return MakeError(errc::limit_exceeded, "runtime policy larger than the limit");
  }
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return PolicyError("runtime policy is not valid JSON");
  if (!j.is_object()) return PolicyError("runtime policy is not a JSON object");
  RuntimePolicy p;
  auto meta = j.find("meta");
  if (meta == j.end() || !meta->is_object()) return PolicyError("missing 'meta' object");
  auto version = meta->find("version");
  if (version == meta->end() || !version->is_number_integer() || version->get<int64_t>() != 1) {
    return PolicyError("unsupported runtime policy version (expected meta.version 1)");
  }
  if (auto it = j.find("release"); it != j.end() && it->is_number_integer()) {
    p.release_ = it->get<int64_t>();
  }
  for (auto [key, map] : {std::pair{"digests", &p.digests_}, std::pair{"keyrings", &p.keyrings_},
                          std::pair{"ima-buf", &p.ima_buf_}}) {
    if (auto r = ParseDigestMap(j, key, *map, limits); !r) return r.error();
  }
  std::vector<std::string> excludes;
  if (auto it = j.find("excludes"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return PolicyError("'excludes' is not a list");
    if (it->size() > limits.max_excludes) return PolicyError("too many excludes");
    for (const auto& e : *it) {
      if (!e.is_string()) return PolicyError("'excludes' holds a non-string");
      excludes.push_back(e.get<std::string>());
    }
  }
  if (auto r = p.SetExcludes(std::move(excludes), limits); !r) return r.error();
  if (auto ima = j.find("ima"); ima != j.end() && !ima->is_null()) {
    if (!ima->is_object()) return PolicyError("'ima' is not an object");
    if (auto it = ima->find("ignored_keyrings"); it != ima->end() && !it->is_null()) {
      if (!it->is_array()) return PolicyError("'ima.ignored_keyrings' is not a list");
      for (const auto& k : *it) {
        if (!k.is_string()) return PolicyError("'ima.ignored_keyrings' holds a non-string");
        p.ignored_keyrings_.push_back(k.get<std::string>());
      }
    }
    if (auto it = ima->find("log_hash_alg"); it != ima->end() && !it->is_null()) {
      auto alg = it->is_string() ? HashFromName(it->get_ref<const std::string&>()) : std::nullopt;
      if (!alg) return PolicyError("'ima.log_hash_alg' is not sha1, sha256, sha384 or sha512");
      p.log_hash_alg_ = *alg;
    }
    if (auto it = ima->find("dm_policy"); it != ima->end()) p.dm_policy_json_ = it->dump();
  }
  if (auto it = j.find("verification-keys"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return PolicyError("'verification-keys' is not a string");
    p.verification_keys_ = it->get<std::string>();
  }
  return p;
}

Result<RuntimePolicy> RuntimePolicy::FromAllowlist(std::string_view text,
                                                   const PolicyLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return MakeError(errc::limit_exceeded, "allowlist larger than the limit");
  }
  RuntimePolicy p;
  size_t lineno = 0;
  std::string raw;
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++lineno;
    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
    while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    size_t sp = 0;
    while (sp < line.size() && !is_space(line[sp])) ++sp;
    std::string_view digest = line.substr(0, sp), path = line.substr(sp);
    while (!path.empty() && is_space(path.front())) path.remove_prefix(1);
    if (path.empty() || !DecodeDigest(digest, raw)) {
      return PolicyError("allowlist line " + std::to_string(lineno) + ": expected 'digest path'");
    }
    p.AddDigest(path, AsBytes(raw));
  }
  return p;
}

std::string RuntimePolicy::ToJson() const {
  json j;
  j["meta"] = {{"version", 1}, {"generator", 0}};
  j["release"] = release_;
  j["digests"] = DigestMapJson(digests_);
  j["excludes"] = excludes_;
  j["keyrings"] = DigestMapJson(keyrings_);
  j["ima"] = {{"ignored_keyrings", ignored_keyrings_},
              {"log_hash_alg", std::string(HashName(log_hash_alg_))},
              {"dm_policy", json::parse(dm_policy_json_, nullptr, false)}};
  j["ima-buf"] = DigestMapJson(ima_buf_);
  j["verification-keys"] = verification_keys_;
  // Paths that are not UTF-8 (legal on Linux) cannot be JSON strings: they
  // become U+FFFD, so such a file fails the policy rather than crash it.
  return j.dump(1, ' ', false, json::error_handler_t::replace);
}

RuntimePolicy GeneratePolicy(const Log& log) {
  RuntimePolicy p;
  p.set_log_hash_alg(log.template_hash_alg);
  for (const Entry& e : log.entries) {
    if (e.IsViolation()) continue;  // never validated against the policy
    if (e.tmpl == Template::kImaBuf) {
      auto key = KeyFromData(e.buffer());
      if (key && *key) {
        p.AddKeyring(e.path(), e.file_digest());
      } else {
        p.AddImaBuf(e.path(), e.file_digest());
      }
      continue;
    }
    p.AddDigest(e.path(), e.file_digest());
  }
  return p;
}

}  // namespace attest::ima
