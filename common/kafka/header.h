// A Kafka record header, shared by Producer and Consumer.
#pragma once

#include <string>

namespace attest::kafka {

struct Header {
  std::string name;
  std::string value;

  friend bool operator==(const Header&, const Header&) = default;
};

}  // namespace attest::kafka
