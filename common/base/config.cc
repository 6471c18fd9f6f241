#include "common/base/config.h"

#include <toml++/toml.h>
#include <fstream>
#include <sstream>

#include "common/base/errors.h"

namespace attest {
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

}  // namespace

ConfigFile::ConfigFile(std::shared_ptr<const toml::table> root, std::string origin,
                       std::string prefix)
    : root_(std::move(root)), origin_(std::move(origin)), prefix_(std::move(prefix)) {}

Result<ConfigFile> ConfigFile::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(base::errc::io_error, path + ": cannot open config file");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return MakeError(base::errc::io_error, path + ": cannot read config file");
  return Parse(buf.str(), path);
}

Result<ConfigFile> ConfigFile::Parse(std::string_view text, std::string origin) {
  try {
    auto table = std::make_shared<toml::table>(toml::parse(text, origin));
    return ConfigFile(std::move(table), std::move(origin), "");
  } catch (const toml::parse_error& e) {
    return MakeError(base::errc::parse_error,
                     Location(origin, e.source()) + ": " + std::string(e.description()));
  }
}

const toml::node* ConfigFile::Find(std::string_view key) const {
  return root_->at_path(key).node();
}

bool ConfigFile::Has(std::string_view key) const { return Find(key) != nullptr; }

std::string ConfigFile::Where(std::string_view key) const {
  return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
}

Error ConfigFile::Invalid(std::string_view key, std::string_view what) const {
  const toml::node* n = Find(key);
  std::string loc = n ? Location(origin_, n->source()) : origin_;
  return MakeError(base::errc::invalid_value,
                   loc + ": key '" + Where(key) + "': " + std::string(what));
}

namespace {
template <typename T>
Result<T> Missing(const ConfigFile& f, std::optional<T> fallback, const std::string& where) {
  if (fallback) return *std::move(fallback);
  return MakeError(base::errc::missing_value,
                   f.origin() + ": required key '" + where + "' is missing");
}
}  // namespace

Result<std::string> ConfigFile::String(std::string_view key,
                                       std::optional<std::string> fallback) const {
  const toml::node* n = Find(key);
  if (!n) return Missing(*this, std::move(fallback), Where(key));
  if (auto v = n->value<std::string>(); v && n->is_string()) return *v;
  return Invalid(key, std::string("expected a string, got ") + TypeName(*n));
}

Result<int64_t> ConfigFile::Int(std::string_view key, std::optional<int64_t> fallback, int64_t min,
                                int64_t max) const {
  const toml::node* n = Find(key);
  if (!n) {
    if (fallback) return *fallback;
    return Missing<int64_t>(*this, std::nullopt, Where(key));
  }
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
  const toml::node* n = Find(key);
  if (!n) return Missing(*this, fallback, Where(key));
  if (n->is_floating_point() || n->is_integer()) return *n->value<double>();
  return Invalid(key, std::string("expected a number, got ") + TypeName(*n));
}

Result<bool> ConfigFile::Bool(std::string_view key, std::optional<bool> fallback) const {
  const toml::node* n = Find(key);
  if (!n) return Missing(*this, fallback, Where(key));
  if (n->is_boolean()) return *n->value<bool>();
  return Invalid(key, std::string("expected true or false, got ") + TypeName(*n));
}

Result<std::vector<std::string>> ConfigFile::StringList(
    std::string_view key, std::optional<std::vector<std::string>> fallback) const {
  const toml::node* n = Find(key);
  if (!n) return Missing(*this, std::move(fallback), Where(key));
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
    out.push_back(ConfigFile(alias, origin_, Where(key) + "[" + std::to_string(i) + "]"));
  }
  return out;
}

}  // namespace attest
