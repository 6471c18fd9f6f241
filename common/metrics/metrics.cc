#include "common/metrics/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace attest::metrics {
namespace {

bool ValidName(std::string_view n, bool allow_colon) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

// {a="x",b="y"} plus an optional extra label (le for buckets).
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
  return out;
}

template <typename T>
std::unique_ptr<T> MakeSeries(const std::vector<double>&) {
  return std::make_unique<T>();
}
template <>
std::unique_ptr<Histogram> MakeSeries<Histogram>(const std::vector<double>& buckets) {
  return std::make_unique<Histogram>(buckets);
}

}  // namespace

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  for (size_t i = 1; i < bounds_.size(); ++i) {
    if (!(bounds_[i] > bounds_[i - 1])) {
      throw std::logic_error("metrics: histogram bounds must be strictly increasing");
    }
  }
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // Buckets are few (tens): lower_bound keeps "le" semantics (v <= bound).
  size_t i =
      static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

template <typename T>
T& Family<T>::With(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    throw std::logic_error(fmt::format("metrics: {} expects {} label values, got {}", name_,
                                       label_names_.size(), label_values.size()));
  }
  std::lock_guard lock(mu_);
  auto it = series_.find(label_values);
  if (it == series_.end()) {
    it = series_.emplace(label_values, MakeSeries<T>(buckets_)).first;
  }
  return *it->second;
}

template <typename T>
void Family<T>::ForEach(
    const std::function<void(const std::vector<std::string>&, const T&)>& fn) const {
  std::lock_guard lock(mu_);
  for (const auto& [labels, series] : series_) fn(labels, *series);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry::Entry& Registry::Find(const std::string& name, Type type,
                                const std::vector<std::string>& labels, bool* created) {
  if (!ValidName(name, true)) throw std::logic_error("metrics: invalid metric name '" + name + "'");
  for (const auto& l : labels) {
    if (!ValidName(l, false) || l == "le") {
      throw std::logic_error("metrics: invalid label name '" + l + "' for " + name);
    }
  }
  auto it = families_.find(name);
  *created = it == families_.end();
  if (*created) {
    Entry e;
    e.type = type;
    return families_.emplace(name, std::move(e)).first->second;
  }
  if (it->second.type != type) {
    throw std::logic_error("metrics: " + name + " registered twice with different types");
  }
  return it->second;
}

CounterFamily& Registry::AddCounter(const std::string& name, const std::string& help,
                                    std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  bool created = false;
  Entry& e = Find(name, Type::kCounter, label_names, &created);
  if (created)
    e.counter = std::make_unique<CounterFamily>(name, help, std::move(label_names));
  else if (e.counter->label_names() != label_names)
    throw std::logic_error("metrics: " + name + " registered twice with different labels");
  return *e.counter;
}

GaugeFamily& Registry::AddGauge(const std::string& name, const std::string& help,
                                std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  bool created = false;
  Entry& e = Find(name, Type::kGauge, label_names, &created);
  if (created)
    e.gauge = std::make_unique<GaugeFamily>(name, help, std::move(label_names));
  else if (e.gauge->label_names() != label_names)
    throw std::logic_error("metrics: " + name + " registered twice with different labels");
  return *e.gauge;
}

HistogramFamily& Registry::AddHistogram(const std::string& name, const std::string& help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> buckets) {
  Histogram check(buckets);  // validates the bounds before anything is registered
  std::lock_guard lock(mu_);
  bool created = false;
  Entry& e = Find(name, Type::kHistogram, label_names, &created);
  if (created) {
    e.histogram =
        std::make_unique<HistogramFamily>(name, help, std::move(label_names), std::move(buckets));
  } else if (e.histogram->label_names() != label_names) {
    throw std::logic_error("metrics: " + name + " registered twice with different labels");
  }
  return *e.histogram;
}

void Registry::AddCollector(std::function<void()> collect) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::Render() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard lock(mu_);
    collectors = collectors_;
  }
  // Collectors run unlocked: they may set gauges of this registry.
  for (const auto& c : collectors) c();

  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& family : families_) {
    // Not a structured binding: clang 14 cannot capture those in lambdas.
    const std::string& name = family.first;
    const Entry& e = family.second;
    switch (e.type) {
      case Type::kCounter: {
        const auto& f = *e.counter;
        out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, EscapeHelp(f.help()), name);
        f.ForEach([&](const std::vector<std::string>& lv, const Counter& c) {
          out += fmt::format("{}{} {}\n", name, LabelSet(f.label_names(), lv), c.Value());
        });
        break;
      }
      case Type::kGauge: {
        const auto& f = *e.gauge;
        out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, EscapeHelp(f.help()), name);
        f.ForEach([&](const std::vector<std::string>& lv, const Gauge& g) {
          out += fmt::format("{}{} {}\n", name, LabelSet(f.label_names(), lv),
                             FormatDouble(g.Value()));
        });
        break;
      }
      case Type::kHistogram: {
        const auto& f = *e.histogram;
        out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, EscapeHelp(f.help()), name);
        f.ForEach([&](const std::vector<std::string>& lv, const Histogram& h) {
          // Buckets are read one by one while others may observe: the +Inf
          // bucket is the sum of what was read so it stays consistent.
          uint64_t cumulative = 0;
          for (size_t i = 0; i <= h.bounds().size(); ++i) {
            cumulative += h.BucketCount(i);
            std::string le = i < h.bounds().size() ? FormatDouble(h.bounds()[i]) : "+Inf";
            out += fmt::format("{}_bucket{} {}\n", name, LabelSet(f.label_names(), lv, "le", le),
                               cumulative);
          }
          out += fmt::format("{}_sum{} {}\n", name, LabelSet(f.label_names(), lv),
                             FormatDouble(h.Sum()));
          out += fmt::format("{}_count{} {}\n", name, LabelSet(f.label_names(), lv), cumulative);
        });
        break;
      }
    }
  }
  return out;
}

}  // namespace attest::metrics
