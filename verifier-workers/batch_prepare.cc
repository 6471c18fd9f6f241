#include "verifier-workers/batch_prepare.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <mutex>

#include "verifier-workers/contain.h"
#include "verifier-workers/errors.h"

namespace attest::worker {
namespace {

constexpr size_t kAkCacheSize = 200'000;

}  // namespace

BatchPreparer::BatchPreparer(const Context* ctx, ThreadPool* pool, size_t policy_cache_size)
    : ctx_(ctx), pool_(pool), aks_(kAkCacheSize), policies_(policy_cache_size) {}

Result<void> BatchPreparer::Prepare(Batch& b, StoreSession& session, Clock::time_point now) {
  Plan plan = Group(b);
  auto tx = session.Begin();
  if (!tx) return tx.error();
  b.tx = std::move(*tx);
  if (auto r = Contained("load batch", [&] { return Load(b, plan); }); !r) {
    b.tx.reset();
    return MakeError(errc::database, r.error().message);
  }
  Verify(b, plan, now);
  return Ok();
}

// Groups by agent, keeping each agent's evidence in partition order, and
// looks each agent up once in the AK cache.
BatchPreparer::Plan BatchPreparer::Group(const Batch& b) {
  Plan plan;
  for (size_t i = 0; i < b.records.size(); ++i) {
    const Record& r = b.records[i];
    if (r.disposition == Disposition::kBadKey) continue;
    auto [it, fresh] = plan.by_agent.try_emplace(r.agent_id);
    if (fresh) {
      it->second.cached = aks_.Get(r.agent_id);
      plan.have_ak.push_back(it->second.cached != nullptr);
      plan.agent_ids.push_back(r.agent_id);
    }
    it->second.records.push_back(i);
  }
  return plan;
}

Result<void> BatchPreparer::Load(Batch& b, Plan& plan) {
  // The public areas of AKs held parsed (by name) are not fetched.
  // FOR UPDATE: an agent of the batch still committing is read after it.
  ATTEST_ASSIGN_OR_RETURN(b.rows, b.tx->LoadAgents(plan.agent_ids, plan.have_ak, true));
  // A cached AK whose name changed (the agent registered again): fetch it.
  std::vector<AgentRow*> rotated;
  for (auto& [id, row] : b.rows) {
    AgentWork& w = plan.by_agent.find(id)->second;
    if (w.cached != nullptr && w.cached->first == row.ak_name) {
      w.ak = w.cached->second;
    } else if (row.ak_public.empty()) {
      rotated.push_back(&row);
    }
  }
  if (auto r = b.tx->LoadAkPublics(rotated); !r) return r.error();
  return LoadMissingPolicies(*b.tx, b);
}

// Policy versions not cached yet (versions are immutable: cached by id).
Result<void> BatchPreparer::LoadMissingPolicies(StoreTransaction& tx, const Batch& b) {
  std::vector<int64_t> missing;
  for (const auto& [id, row] : b.rows) {
    for (int64_t pid : {row.pcr_policy_id, row.runtime_policy_id, row.mb_policy_id}) {
      if (pid != 0 && !policies_.Get(pid) &&
          std::find(missing.begin(), missing.end(), pid) == missing.end()) {
        missing.push_back(pid);
      }
    }
  }
  if (missing.empty()) return Ok();
  WORKER_LET(prows, tx.LoadPolicies(missing));
  for (const auto& p : prows) {
    auto compiled = CompilePolicy(p.id, p.version, p.kind, p.body);
    if (!compiled->error.empty()) {
      spdlog::error("worker: policy {} ({} v{}): {}", p.id, ToText(p.kind), p.version,
                    compiled->error);
    }
    policies_.Put(p.id, std::move(compiled));
  }
  return Ok();
}

// One job per enrolled agent. Total: a hostile record gives a REJECTED
// verdict (ProcessRecord), never an exception.
void BatchPreparer::Verify(Batch& b, const Plan& plan, Clock::time_point now) {
  std::vector<std::function<void()>> jobs;
  std::mutex aks_mu;
  for (auto& [id, row] : b.rows) {
    const AgentWork& w = plan.by_agent.find(id)->second;
    AgentPolicyRefs pol{Policy(row.pcr_policy_id), Policy(row.runtime_policy_id),
                        Policy(row.mb_policy_id)};
    jobs.push_back([this, &b, r = &row, &idx = w.records, pol, key = w.ak, now, &aks_mu]() mutable {
      if (!key) {
        auto parsed = verifier::AttestationKey::FromTpm2bPublic(tpm::ByteView(
            reinterpret_cast<const uint8_t*>(r->ak_public.data()), r->ak_public.size()));
        if (parsed) {
          key = *parsed;
          std::lock_guard lock(aks_mu);
          b.new_aks.emplace_back(r->agent_id, key);
        }
      }
      for (size_t i : idx) {
        Record& rec = b.records[i];
        const kafka::Message& m = rec.msg;
        rec.outcome =
            ProcessRecord(*ctx_, m.value, EvidenceRef{m.partition, m.offset}, *r, key, pol, now);
        rec.disposition = rec.outcome.result != v1::VERDICT_RESULT_UNSPECIFIED
                              ? Disposition::kVerdict
                          : rec.outcome.copy ? Disposition::kCopy
                                             : Disposition::kNoVerdict;
      }
    });
  }
  pool_->RunAll(jobs);
}

void BatchPreparer::Remember(const Batch& b) {
  for (const auto& [id, key] : b.new_aks) {
    auto it = b.rows.find(id);
    if (it != b.rows.end()) aks_.Put(id, {it->second.ak_name, key});
  }
}

std::shared_ptr<const CachedPolicy> BatchPreparer::Policy(int64_t id) {
  if (id == 0) return nullptr;
  auto* p = policies_.Get(id);
  return p ? *p : nullptr;
}

}  // namespace attest::worker
