#include "verifier-workers/worker_metrics.h"

namespace attest::worker {
namespace {

std::vector<double> SizeBuckets() { return {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}; }

}  // namespace

WorkerMetrics::WorkerMetrics(metrics::Registry& r) {
  evidence = &r.AddCounter("worker_evidence_total", "Evidence records processed.").With({});
  verdicts = &r.AddCounter("worker_verdicts_total", "Verdicts committed, by result.", {"result"});
  for (auto res : {v1::VERDICT_RESULT_PASS, v1::VERDICT_RESULT_FAIL, v1::VERDICT_RESULT_OFFLINE,
                   v1::VERDICT_RESULT_RESUMED, v1::VERDICT_RESULT_REJECTED,
                   v1::VERDICT_RESULT_LOG_REQUESTED}) {
    by_result[res] = &verdicts->With({v1::VerdictResult_Name(res)});
  }
  skipped = &r.AddCounter("worker_evidence_skipped_total",
                          "Evidence records skipped without a verdict.", {"reason"});
  fenced =
      &r.AddCounter("worker_fenced_total", "Transactions rolled back because a partition moved.")
           .With({});
  db_errors = &r.AddCounter("worker_db_errors_total", "Failed database transactions.").With({});
  processing_errors = &r.AddCounter("worker_processing_errors_total",
                                    "Records whose processing threw (REJECTED, logged).")
                           .With({});
  batch_size =
      &r.AddHistogram("worker_batch_size", "Evidence records per batch.", {}, SizeBuckets())
           .With({});
  verify_seconds =
      &r.AddHistogram("worker_verification_seconds", "Verification time per evidence.", {})
           .With({});
  commit_seconds =
      &r.AddHistogram("worker_batch_commit_seconds", "Batch transaction time.", {}).With({});
  owned = &r.AddGauge("worker_partitions_owned", "Evidence partitions owned.").With({});
  position = &r.AddGauge("worker_partition_next_offset",
                         "Committed next offset per owned partition (lag = end offset - this).",
                         {"partition"});
  lag = &r.AddGauge("attest_worker_consumer_lag",
                    "Records of an owned partition not committed yet (log end offset - "
                    "committed next offset; 0 once the partition is no longer owned).",
                    {"partition"});
  log_end = &r.AddGauge("attest_worker_log_end_offset",
                        "High watermark of an owned partition as last fetched.", {"partition"});
}

}  // namespace attest::worker
