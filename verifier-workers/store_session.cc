#include "verifier-workers/store_session.h"

#include "verifier-workers/errors.h"

namespace attest::worker {

StorePool::StorePool(Opener open, size_t size) : open_(std::move(open)), sessions_(size) {}

Result<StoreSession*> StorePool::Session(size_t i) {
  if (i >= sessions_.size()) {
    return MakeError(errc::database, "no batch connection " + std::to_string(i));
  }
  auto& s = sessions_[i];
  if (s && s->is_open()) return s.get();
  s.reset();
  auto opened = open_();
  if (!opened) {
    healthy_ = false;
    return MakeError(errc::database, opened.error().message);
  }
  s = std::move(*opened);
  healthy_ = true;
  return s.get();
}

void StorePool::Drop(size_t i) {
  if (i < sessions_.size()) sessions_[i].reset();
  healthy_ = false;
}

}  // namespace attest::worker
