// The worker's metrics (docs/operations.md lists them).
//
// Thread-safety: the metric objects are thread-safe; the struct is built
// once and never changed.
#pragma once

#include <map>

#include "attest/v1/verdict.pb.h"
#include "common/metrics/metrics.h"

namespace attest::worker {

struct WorkerMetrics {
  explicit WorkerMetrics(metrics::Registry& r);

  metrics::Counter* evidence;
  metrics::CounterFamily* verdicts;
  std::map<v1::VerdictResult, metrics::Counter*> by_result;
  metrics::CounterFamily* skipped;
  metrics::Counter* fenced;
  metrics::Counter* processing_errors;
  metrics::Counter* db_errors;
  metrics::Histogram* batch_size;
  metrics::Histogram* verify_seconds;
  metrics::Histogram* commit_seconds;
  metrics::Gauge* owned;
  metrics::GaugeFamily* position;
  metrics::GaugeFamily* lag;
  metrics::GaugeFamily* log_end;
};

}  // namespace attest::worker
