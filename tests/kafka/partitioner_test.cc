// PartitionFor/Murmur2 against two oracles we did not write: Apache Kafka's
// own UtilsTest.testMurmur2 vectors, and librdkafka's public
// rd_kafka_msg_partitioner_murmur2 over many keys and partition counts.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <random>
#include <string>

#include "common/kafka/partitioner.h"

namespace attest::kafka {
namespace {

TEST(Murmur2, MatchesKafkaJavaVectors) {
  EXPECT_EQ(Murmur2("21"), -973932308);
  EXPECT_EQ(Murmur2("foobar"), -790332482);
  EXPECT_EQ(Murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(Murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(Murmur2("abc"), 479470107);
  EXPECT_EQ(Murmur2(""), 275646681);
}

int32_t Librdkafka(const std::string& key, int32_t n) {
  return rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), n, nullptr, nullptr);
}

TEST(PartitionFor, AgreesWithLibrdkafkaOverRandomKeys) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> len(1, 64);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int32_t> count(1, 200);
  for (int i = 0; i < 20000; ++i) {
    std::string key(static_cast<size_t>(len(rng)), '\0');
    for (auto& c : key) c = static_cast<char>(byte(rng));  // high bytes catch sign bugs
    const int32_t n = count(rng);
    ASSERT_EQ(PartitionFor(key, n), Librdkafka(key, n)) << "key #" << i << " n=" << n;
  }
}

TEST(PartitionFor, AgreesWithLibrdkafkaOnUuidKeys) {
  std::mt19937 rng(7);
  const char* hex = "0123456789abcdef";
  std::vector<int> histogram(12, 0);
  for (int i = 0; i < 5000; ++i) {
    std::string uuid = "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx";
    for (auto& c : uuid) {
      if (c == 'x') c = hex[rng() % 16];
    }
    const int32_t p = PartitionFor(uuid, 12);
    ASSERT_EQ(p, Librdkafka(uuid, 12)) << uuid;
    ASSERT_GE(p, 0);
    ASSERT_LT(p, 12);
    ++histogram[static_cast<size_t>(p)];
  }
  for (int h : histogram) EXPECT_GT(h, 0);  // every partition is used
}

TEST(PartitionFor, RejectsNonPositiveCounts) {
  EXPECT_EQ(PartitionFor("agent", 0), -1);
  EXPECT_EQ(PartitionFor("agent", -3), -1);
  EXPECT_EQ(PartitionFor("agent", 1), 0);
}

}  // namespace
}  // namespace attest::kafka
