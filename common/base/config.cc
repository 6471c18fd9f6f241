#include "common/base/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

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

// Optimal string alignment distance (an adjacent transposition is one edit):
// typos are mostly one wrong, missing, extra or swapped character.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// Names this close are likely the same name mistyped; short names allow one
// edit only ("key" and "port" are not typos of each other).
bool NearMiss(std::string_view typed, std::string_view known) {
  if (typed == known) return false;
  const size_t limit = std::min(typed.size(), known.size()) <= 4 ? 1 : 2;
  // Lengths further apart than the limit cannot be that close; and a key of
  // a megabyte must not cost a megabyte-by-name table per known name.
  if (std::max(typed.size(), known.size()) - std::min(typed.size(), known.size()) > limit) {
    return false;
  }
  return EditDistance(typed, known) <= limit;
}

// "servers[3].verifiers[1]" -> "servers[].verifiers[]": element indexes
// dropped, so every [[servers]] block shares one set of known names.
std::string Generic(std::string_view key) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    out += key[i];
    if (key[i] == '[') {
      while (i + 1 < key.size() && key[i + 1] != ']') ++i;
    }
  }
  return out;
}

// The table part and the last name of a generic key: "servers[].registrars"
// -> {"servers[]", "registrars"}; "tls" -> {"", "tls"}.
std::pair<std::string, std::string> Split(const std::string& generic) {
  const size_t dot = generic.rfind('.');
  if (dot == std::string::npos) return {"", generic};
  return {generic.substr(0, dot), generic.substr(dot + 1)};
}

// How a table is written in the file: "[tls]", "[[servers]]", or the top
// level (keys before any table header).
std::string TableName(const std::string& generic_table) {
  if (generic_table.empty()) return "the top level";
  if (generic_table.ends_with("[]")) {
    return "[[" + generic_table.substr(0, generic_table.size() - 2) + "]]";
  }
  return "[" + generic_table + "]";
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

struct Unknown {
  std::string key;  // full dotted key with indexes
  toml::source_region where;
  bool table = false;
  bool quoted = false;  // its name holds '.', '[' or ']' (a quoted key)
};

// A quoted key whose name holds '.', '[' or ']' ("tls.ca_file" = ...) reads
// like a dotted path but is one name, which no getter's path reaches.
bool Unnameable(std::string_view name) { return name.find_first_of(".[]") != name.npos; }

// Unknown keys listed in one error; the rest are counted.
constexpr size_t kMaxUnknownListed = 50;

// toml++ recurses once per level of nested tables while parsing, so a key
// of tens of thousands of dotted parts ("a.a.a...", 80 KB) overflows the
// stack. No configuration needs more than a few parts: a longer chain is
// refused before toml++ sees it. (Nested arrays and inline tables toml++
// bounds itself: TOML_MAX_NESTED_VALUES.)
constexpr size_t kMaxKeyParts = 32;

bool BareKeyChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// "line:col" of the first chain of more than kMaxKeyParts dot-separated
// parts (bare or quoted, blanks around the dots allowed) outside strings
// and comments, or nullopt. A float or a date has one dot and ends at its
// first other character, so only keys and table headers make long chains.
std::optional<std::string> TooDeepKey(std::string_view text) {
  size_t line = 1, line_start = 0;
  size_t dots = 0;          // in the current chain
  bool after_part = false;  // the last significant character ended a part
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      dots = 0;
      after_part = false;
    } else if (c == '#') {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      // Skip the string, a part of a chain if it is a quoted key. '...' and
      // '''...''' have no escapes. A closing ''' or """ may be followed by
      // up to two more quotes of the content.
      const std::string_view delim =
          text.substr(i, 3) == std::string_view(c == '"' ? R"(""")" : "'''") ? text.substr(i, 3)
                                                                             : text.substr(i, 1);
      size_t j = i + delim.size();
      while (j < text.size()) {
        if (c == '"' && text[j] == '\\') {
          if (j + 1 < text.size() && text[j + 1] == '\n') {  // a line-ending backslash
            ++line;
            line_start = j + 2;
          }
          j += 2;
        } else if (text.substr(j, delim.size()) == delim) {
          j += delim.size();
          for (int extra = 0; delim.size() == 3 && extra < 2 && j < text.size() && text[j] == c;
               ++extra) {
            ++j;
          }
          break;
        } else if (text[j] == '\n') {
          if (delim.size() == 1) break;  // unterminated: toml++ says so
          ++line;
          line_start = ++j;
        } else {
          ++j;
        }
      }
      i = j - 1;  // the loop's ++i: the character after the string (or the newline)
      after_part = true;
    } else if (c == '.') {
      if (!after_part) dots = 0;
      if (after_part && ++dots >= kMaxKeyParts) {
        return std::to_string(line) + ":" + std::to_string(i - line_start + 1);
      }
      after_part = false;
    } else if (BareKeyChar(c)) {
      after_part = true;
    } else if (c != ' ' && c != '\t') {
      dots = 0;
      after_part = false;
    }
  }
  return std::nullopt;
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
  if (auto at = TooDeepKey(text)) {
    return MakeError(base::errc::parse_error, origin + ":" + *at +
                                                  ": a key or table name of more than " +
                                                  std::to_string(kMaxKeyParts) + " dotted parts");
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
      if (NearMiss(k.str(), name)) {
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
    auto& slot = out[Generic(key)];
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
  // A table is known when a key inside it was asked for.
  auto known_table = [&](const std::string& key) {
    auto it = asked.lower_bound(key + ".");
    if (it != asked.end() && it->first.starts_with(key + ".")) return true;
    it = asked.lower_bound(key + "[");
    return it != asked.end() && it->first.starts_with(key + "[");
  };

  std::vector<Unknown> unknown;
  auto walk = [&](auto&& self, const toml::table& t, const std::string& path) -> void {
    for (auto&& [k, node] : t) {
      const std::string key =
          path.empty() ? std::string(k.str()) : path + "." + std::string(k.str());
      const toml::source_region& src = k.source().begin.line ? k.source() : node.source();
      const bool quoted = Unnameable(k.str());
      const bool is_asked = !quoted && asked.count(key) > 0;
      if (quoted) {
        unknown.push_back({key, src, node.is_table() || node.is_array_of_tables(), true});
      } else if (const toml::table* sub = node.as_table()) {
        if (!is_asked && !known_table(key)) {
          unknown.push_back({key, src, true});
        } else {
          self(self, *sub, key);
        }
      } else if (const toml::array* arr = node.as_array();
                 arr && !arr->empty() && arr->is_array_of_tables()) {
        if (!is_asked) {
          unknown.push_back({key, src, true});
          continue;
        }
        for (size_t i = 0; i < arr->size(); ++i) {
          self(self, *arr->get(i)->as_table(), key + "[" + std::to_string(i) + "]");
        }
      } else if (!is_asked) {
        unknown.push_back({key, src, false});
      }
    }
  };
  walk(walk, *tracker_->doc, "");
  if (unknown.empty()) return Ok();

  // Known names per table, generic ("servers[]" -> {"registrars", ...}):
  // the leaves asked for and the tables holding them.
  std::map<std::string, std::set<std::string>> names;
  for (const auto& [key, fallback] : asked) {
    std::string g = Generic(key);
    while (!g.empty()) {
      auto [table, name] = Split(g);
      if (name.ends_with("[]")) name.resize(name.size() - 2);
      names[table].insert(name);
      g = table;
    }
  }

  std::sort(unknown.begin(), unknown.end(), [](const Unknown& a, const Unknown& b) {
    return std::pair(a.where.begin.line, a.where.begin.column) <
           std::pair(b.where.begin.line, b.where.begin.column);
  });
  std::string msg;
  for (size_t n = 0; n < unknown.size(); ++n) {
    if (n == kMaxUnknownListed) {
      msg += "\n(and " + std::to_string(unknown.size() - n) + " more unknown keys)";
      break;
    }
    const Unknown& u = unknown[n];
    const auto [table, name] = Split(Generic(u.key));
    std::string hint;
    // The same name in other tables: the key is in the wrong one.
    std::vector<std::string> homes;
    for (const auto& [t, known] : names) {
      if (t != table && known.count(name)) homes.push_back(TableName(t));
    }
    if (u.quoted) {
      hint =
          "a quoted name with '.', '[' or ']' is one name, not a path: write it unquoted "
          "(tls.ca_file = ...) or under its [table]";
    } else if (!homes.empty()) {
      hint = "'" + name + "' belongs in ";
      for (size_t i = 0; i < homes.size(); ++i) {
        hint += (i == 0 ? "" : i + 1 == homes.size() ? " or " : ", ") + homes[i];
      }
      if (homes.size() == 1 && homes[0] == "the top level") {
        hint = "'" + name + "' belongs at the top level (before any [table] header)";
      }
    } else {
      // A near miss: first in the same table, else anywhere.
      std::string best, best_table;
      size_t best_d = SIZE_MAX;
      const std::string& wanted = name;  // clang 14 cannot capture a structured binding
      auto consider = [&](const std::string& t, const std::string& n) {
        if (!NearMiss(wanted, n)) return;
        const size_t d = EditDistance(wanted, n);
        if (d < best_d) best = n, best_table = t, best_d = d;
      };
      if (auto it = names.find(table); it != names.end()) {
        for (const auto& n : it->second) consider(table, n);
      }
      if (best.empty()) {
        for (const auto& [t, known] : names) {
          for (const auto& n : known) consider(t, n);
        }
      }
      if (!best.empty()) {
        hint = "did you mean '" + best + "'" +
               (best_table == table ? std::string() : " in " + TableName(best_table)) + "?";
      }
    }
    if (!msg.empty()) msg += "\n";
    msg += Location(origin_, u.where) + ": key '" + u.key + "': unknown " +
           (u.table ? "table" : "key") + (hint.empty() ? "" : "; " + hint);
  }
  return MakeError(base::errc::unknown_key, msg);
}

}  // namespace attest
