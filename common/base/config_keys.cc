// Unknown keys and the hints that name what was meant; the depth guard
// (see config_keys.h).
#include "common/base/config_keys.h"

#include <algorithm>
#include <cstdint>

namespace attest::internal {
namespace {

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

// A quoted key whose name holds '.', '[' or ']' ("tls.ca_file" = ...) reads
// like a dotted path but is one name, which no getter's path reaches.
bool Unnameable(std::string_view name) { return name.find_first_of(".[]") != name.npos; }

bool BareKeyChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

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

std::vector<UnknownKey> FindUnknownKeys(
    const toml::table& doc, const std::map<std::string, std::optional<std::string>>& asked) {
  // A table is known when a key inside it was asked for.
  auto known_table = [&](const std::string& key) {
    auto it = asked.lower_bound(key + ".");
    if (it != asked.end() && it->first.starts_with(key + ".")) return true;
    it = asked.lower_bound(key + "[");
    return it != asked.end() && it->first.starts_with(key + "[");
  };

  std::vector<UnknownKey> unknown;
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
  walk(walk, doc, "");
  return unknown;
}

KnownNames KnownNamesOf(const std::map<std::string, std::optional<std::string>>& asked) {
  KnownNames names;
  for (const auto& [key, fallback] : asked) {
    std::string g = Generic(key);
    while (!g.empty()) {
      auto [table, name] = Split(g);
      if (name.ends_with("[]")) name.resize(name.size() - 2);
      names[table].insert(name);
      g = table;
    }
  }
  return names;
}

std::string UnknownKeyHint(const UnknownKey& u, const KnownNames& names) {
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
  return hint;
}

// A float or a date has one dot and ends at its first other character, so
// only keys and table headers make long chains.
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

}  // namespace attest::internal
