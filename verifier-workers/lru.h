// A small bounded LRU map (the worker's AK and policy caches).
//
// Thread-safety: none; the worker's loop thread owns it.
#pragma once

#include <cstddef>
#include <list>
#include <unordered_map>
#include <utility>

namespace attest::worker {

template <typename K, typename V>
class Lru {
 public:
  explicit Lru(size_t capacity) : capacity_(capacity ? capacity : 1) {}

  // The value, refreshed as most recently used; nullptr when absent.
  V* Get(const K& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  void Put(const K& key, V value) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      it->second->second = std::move(value);
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
    while (index_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

  size_t size() const { return index_.size(); }

 private:
  size_t capacity_;
  std::list<std::pair<K, V>> order_;
  std::unordered_map<K, typename std::list<std::pair<K, V>>::iterator> index_;
};

}  // namespace attest::worker
