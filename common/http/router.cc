#include "common/http/router.h"

#include <fmt/format.h>

#include "common/http/errors.h"

namespace attest::http {
namespace {

bool IsParam(std::string_view s) { return s.size() >= 3 && s.front() == '{' && s.back() == '}'; }

// Splits "/a/b/c" into {"a","b","c"}; false when the path is not absolute,
// has empty segments or too many of them.
bool Split(std::string_view path, std::vector<std::string_view>* out) {
  out->clear();
  if (path.empty() || path.front() != '/') return false;
  if (path == "/") return true;
  path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    if (seg.empty() || out->size() >= Router::kMaxSegments) return false;
    out->push_back(seg);
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

}  // namespace

Result<void> Router::Add(std::string method, std::string pattern, Handler handler) {
  std::vector<std::string_view> segs;
  if (!Split(pattern, &segs)) {
    return MakeError(errc::invalid_argument, fmt::format("route '{}': not a valid path", pattern));
  }
  if (method.empty() || !handler) {
    return MakeError(errc::invalid_argument,
                     fmt::format("route '{}': empty method or handler", pattern));
  }
  for (auto s : segs) {
    bool open = s.find('{') != std::string_view::npos || s.find('}') != std::string_view::npos;
    if (open && !IsParam(s)) {
      return MakeError(
          errc::invalid_argument,
          fmt::format("route '{}': segment '{}' mixes text and a parameter", pattern, s));
    }
  }
  for (const auto& r : routes_) {
    if (r.method == method && r.pattern == pattern) {
      return MakeError(errc::invalid_argument,
                       fmt::format("route {} '{}' registered twice", method, pattern));
    }
  }
  Route r;
  r.method = std::move(method);
  r.pattern = std::move(pattern);
  r.handler = std::move(handler);
  r.index = routes_.size();
  for (auto s : segs) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
  return Ok();
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match m;
  std::vector<std::string_view> segs;
  segs.reserve(8);
  if (!Split(path, &segs)) return m;
  // Score = number of literal segments: the most specific pattern wins.
  int best_score = -1;
  for (const auto& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    int score = 0;
    bool ok = true;
    for (size_t i = 0; i < segs.size() && ok; ++i) {
      if (IsParam(r.segments[i])) continue;
      if (r.segments[i] != segs[i])
        ok = false;
      else
        ++score;
    }
    if (!ok) continue;
    if (r.method != method) {
      if (m.allow.find(r.method) == std::string::npos) {
        if (!m.allow.empty()) m.allow += ", ";
        m.allow += r.method;
      }
      if (m.kind == Match::Kind::kNotFound) m.kind = Match::Kind::kMethodNotAllowed;
      continue;
    }
    if (score <= best_score) continue;
    best_score = score;
    m.kind = Match::Kind::kFound;
    m.route = &r;
  }
  if (m.kind == Match::Kind::kFound) {
    for (size_t i = 0; i < segs.size(); ++i) {
      const std::string& s = m.route->segments[i];
      if (IsParam(s)) m.params.emplace_back(s.substr(1, s.size() - 2), std::string(segs[i]));
    }
    m.allow.clear();
  }
  return m;
}

}  // namespace attest::http
