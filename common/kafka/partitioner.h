// Kafka's Java-compatible default partitioner for keyed records, so the
// partition of an agent UUID is computable anywhere (gateway, workers,
// operators' tools, SIEM connectors) without asking Kafka:
//   partition = toPositive(murmur2(key)) % partition_count
// with Java's murmur2 (seed 0x9747b28c) and toPositive(x) = x & 0x7fffffff.
// librdkafka's `partitioner=murmur2_random` (which our Producer forces) gives
// the same result for every non-empty key.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace attest::kafka {

// Java's org.apache.kafka.common.utils.Utils.murmur2 over the key bytes.
int32_t Murmur2(std::string_view key);

// The partition of `key` among `partition_count` partitions; -1 when
// partition_count <= 0 (there is no valid answer).
int32_t PartitionFor(std::string_view key, int32_t partition_count);

}  // namespace attest::kafka
