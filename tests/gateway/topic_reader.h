// Reads every record of a topic from the beginning to the current end
// (high watermark) with a plain librdkafka consumer on an explicit
// assignment: no consumer group, so no rebalance wait. The topic must exist
// (Kafka does not create it on a read). Each call uses its own consumer group
// name and commits nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attest::testing {

struct TopicRecord {
  int32_t partition = -1;
  int64_t offset = -1;
  std::string key;
  std::string value;
};

// Throws std::runtime_error when the topic's partitions and their ends are
// not known within 20 s (retriable errors are asked again), or its records
// are not read within 20 s more.
std::vector<TopicRecord> ReadTopic(const std::string& bootstrap, const std::string& topic);

}  // namespace attest::testing
