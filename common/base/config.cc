#include "common/base/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/base/config_keys.h"
#include "common/base/errors.h"

namespace attest {

// What the parsers asked for, shared by a ConfigFile, its copies and its
// TableList elements, so the root can tell which keys of the file nobody
// reads.
struct ConfigFile::Tracker {
  std::shared_ptr<const toml::table> doc;  // the whole file
  mutable std::mutex mu;
  // Full dotted key with element indexes ("servers[0].registrars") -> the
  // getter's default as text.
  std::map<std::string, std::optional<std::string>> asked;
};

namespace {

std::string Location(const std::string& origin, const toml::source_region& src) {
  std::ostringstream os;
  os << origin;
  if (src.begin.line != 0) os << ':' << src.begin.line << ':' << src.begin.column;
  return os.str();
}

const char* TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date/time";
  }
}

std::string FormatDouble(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return std::to_string(v);
  std::string s(buf, end);
  // TOML writes a float with a fraction or exponent ("1.0", not "1").
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string FormatList(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    s += (i ? ", \"" : "\"") + v[i] + "\"";
  }
  return s + "]";
}

}  // namespace

ConfigFile::ConfigFile(std::shared_ptr<const toml::table> root, std::string origin,
                       std::string prefix, std::shared_ptr<Tracker> tracker)
    : root_(std::move(root)),
      origin_(std::move(origin)),
      prefix_(std::move(prefix)),
      tracker_(std::move(tracker)) {}

Result<ConfigFile> ConfigFile::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(base::errc::io_error, path + ": cannot open config file");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return MakeError(base::errc::io_error, path + ": cannot read config file");
  return Parse(buf.str(), path);
}

Result<ConfigFile> ConfigFile::Parse(std::string_view text, std::string origin) {
  if (auto at = internal::TooDeepKey(text)) {
    return MakeError(base::errc::parse_error,
                     origin + ":" + *at + ": a key or table name of more than " +
                         std::to_string(internal::kMaxKeyParts) + " dotted parts");
  }
  try {
    auto table = std::make_shared<toml::table>(toml::parse(text, origin));
    auto tracker = std::make_shared<Tracker>();
    tracker->doc = table;
    return ConfigFile(std::move(table), std::move(origin), "", std::move(tracker));
  } catch (const toml::parse_error& e) {
    return MakeError(base::errc::parse_error,
                     Location(origin, e.source()) + ": " + std::string(e.description()));
  }
}

const toml::node* ConfigFile::Find(std::string_view key) const {
  return root_->at_path(key).node();
}

void ConfigFile::Ask(std::string_view key, std::optional<std::string> fallback) const {
  std::lock_guard lock(tracker_->mu);
  auto [it, inserted] = tracker_->asked.try_emplace(Where(key), std::move(fallback));
  // A key tested with Has and read later keeps the getter's default.
  if (!inserted && !it->second) it->second = std::move(fallback);
}

bool ConfigFile::Has(std::string_view key) const {
  Ask(key, std::nullopt);
  return Find(key) != nullptr;
}

std::string ConfigFile::Where(std::string_view key) const {
  return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
}

std::string ConfigFile::Locate(std::string_view key, std::optional<size_t> element) const {
  const toml::node* n = Find(key);
  if (n && element) {
    const toml::array* arr = n->as_array();
    n = arr && *element < arr->size() ? arr->get(*element) : n;
  }
  return n ? Location(origin_, n->source()) : origin_;
}

Error ConfigFile::Invalid(std::string_view key, std::string_view what) const {
  return MakeError(base::errc::invalid_value,
                   Locate(key) + ": key '" + Where(key) + "': " + std::string(what));
}

Error ConfigFile::Invalid(std::string_view key, size_t element, std::string_view what) const {
  return MakeError(base::errc::invalid_value, Locate(key, element) + ": key '" + Where(key) + "[" +
                                                  std::to_string(element) +
                                                  "]': " + std::string(what));
}

Error ConfigFile::Missing(std::string_view key, std::string_view what) const {
  std::string msg = origin_ + ": key '" + Where(key) + "': " + std::string(what);
  // A key of the same table one or two edits away is most likely the one
  // meant: say so, since the file looks right to its author.
  const std::string_view name = key.substr(key.rfind('.') + 1);  // npos + 1 == 0
  const std::string_view table = key.substr(0, key.size() - name.size());
  const toml::table* parent =
      table.empty() ? root_.get() : root_->at_path(table.substr(0, table.size() - 1)).as_table();
  if (parent) {
    for (auto&& [k, v] : *parent) {
      if (internal::NearMiss(k.str(), name)) {
        const auto& src = k.source().begin.line ? k.source() : v.source();
        msg +=
            " (is '" + std::string(k.str()) + "' at " + Location(origin_, src) + " a misspelling?)";
        break;
      }
    }
  }
  return MakeError(base::errc::missing_value, msg);
}

namespace {
template <typename T>
Result<T> OrMissing(const ConfigFile& f, std::string_view key, std::optional<T> fallback) {
  if (fallback) return *std::move(fallback);
  return f.Missing(key, "required key is missing");
}
}  // namespace

Result<std::string> ConfigFile::String(std::string_view key,
                                       std::optional<std::string> fallback) const {
  Ask(key, fallback);
  const toml::node* n = Find(key);
  if (!n) return OrMissing(*this, key, std::move(fallback));
  if (auto v = n->value<std::string>(); v && n->is_string()) return *v;
  return Invalid(key, std::string("expected a string, got ") + TypeName(*n));
}

Result<int64_t> ConfigFile::Int(std::string_view key, std::optional<int64_t> fallback, int64_t min,
                                int64_t max) const {
  Ask(key, fallback ? std::optional(std::to_string(*fallback)) : std::nullopt);
  const toml::node* n = Find(key);
  if (!n) return OrMissing(*this, key, fallback);
  if (!n->is_integer())
    return Invalid(key, std::string("expected an integer, got ") + TypeName(*n));
  int64_t v = *n->value<int64_t>();
  if (v < min || v > max) {
    return Invalid(key, "expected an integer in [" + std::to_string(min) + ", " +
                            std::to_string(max) + "], got " + std::to_string(v));
  }
  return v;
}

Result<double> ConfigFile::Double(std::string_view key, std::optional<double> fallback) const {
  Ask(key, fallback ? std::optional(FormatDouble(*fallback)) : std::nullopt);
  const toml::node* n = Find(key);
  if (!n) return OrMissing(*this, key, fallback);
  if (n->is_floating_point() || n->is_integer()) return *n->value<double>();
  return Invalid(key, std::string("expected a number, got ") + TypeName(*n));
}

Result<bool> ConfigFile::Bool(std::string_view key, std::optional<bool> fallback) const {
  Ask(key, fallback ? std::optional<std::string>(*fallback ? "true" : "false") : std::nullopt);
  const toml::node* n = Find(key);
  if (!n) return OrMissing(*this, key, fallback);
  if (n->is_boolean()) return *n->value<bool>();
  return Invalid(key, std::string("expected true or false, got ") + TypeName(*n));
}

Result<std::vector<std::string>> ConfigFile::StringList(
    std::string_view key, std::optional<std::vector<std::string>> fallback) const {
  Ask(key, fallback ? std::optional(FormatList(*fallback)) : std::nullopt);
  const toml::node* n = Find(key);
  if (!n) return OrMissing(*this, key, std::move(fallback));
  const toml::array* arr = n->as_array();
  if (!arr) return Invalid(key, std::string("expected an array of strings, got ") + TypeName(*n));
  std::vector<std::string> out;
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    if (!e.is_string()) {
      return Invalid(key,
                     "element " + std::to_string(i) + ": expected a string, got " + TypeName(e));
    }
    out.push_back(*e.value<std::string>());
  }
  return out;
}

Result<std::vector<ConfigFile>> ConfigFile::TableList(std::string_view key) const {
  Ask(key, std::nullopt);
  std::vector<ConfigFile> out;
  const toml::node* n = Find(key);
  if (!n) return out;
  const toml::array* arr = n->as_array();
  if (!arr) return Invalid(key, std::string("expected an array of tables, got ") + TypeName(*n));
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table* t = arr->get(i)->as_table();
    if (!t) return Invalid(key, "element " + std::to_string(i) + " is not a table");
    // Share ownership of the whole document so the element stays valid.
    std::shared_ptr<const toml::table> alias(root_, t);
    out.push_back(ConfigFile(alias, origin_, Where(key) + "[" + std::to_string(i) + "]", tracker_));
  }
  return out;
}

std::map<std::string, std::optional<std::string>> ConfigFile::AskedKeys() const {
  std::lock_guard lock(tracker_->mu);
  std::map<std::string, std::optional<std::string>> out;
  for (const auto& [key, fallback] : tracker_->asked) {
    auto& slot = out[internal::Generic(key)];
    if (!slot) slot = fallback;
  }
  return out;
}

Result<void> ConfigFile::RejectUnknownKeys() const {
  std::map<std::string, std::optional<std::string>> asked;
  {
    std::lock_guard lock(tracker_->mu);
    asked = tracker_->asked;
  }
  std::vector<internal::UnknownKey> unknown = internal::FindUnknownKeys(*tracker_->doc, asked);
  if (unknown.empty()) return Ok();
  const internal::KnownNames names = internal::KnownNamesOf(asked);
  std::sort(unknown.begin(), unknown.end(),
            [](const internal::UnknownKey& a, const internal::UnknownKey& b) {
              return std::pair(a.where.begin.line, a.where.begin.column) <
                     std::pair(b.where.begin.line, b.where.begin.column);
            });
  std::string msg;
  for (size_t n = 0; n < unknown.size(); ++n) {
    if (n == internal::kMaxUnknownListed) {
      msg += "\n(and " + std::to_string(unknown.size() - n) + " more unknown keys)";
      break;
    }
    const internal::UnknownKey& u = unknown[n];
    const std::string hint = internal::UnknownKeyHint(u, names);
    if (!msg.empty()) msg += "\n";
    msg += Location(origin_, u.where) + ": key '" + u.key + "': unknown " +
           (u.table ? "table" : "key") + (hint.empty() ? "" : "; " + hint);
  }
  return MakeError(base::errc::unknown_key, msg);
}

}  // namespace attest
