// The failure-id catalogues (common/{checks,eventlog,ima,verifier}/failure_ids.h)
// and the table of docs/verification.md ("Failure ids") list the same ids.
// The headers are read as text so that a constant added to a catalogue
// without a line in the docs (or the reverse) fails here.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "common/checks/failure_ids.h"
#include "common/eventlog/failure_ids.h"
#include "common/ima/failure_ids.h"
#include "common/verifier/failure_ids.h"

namespace {

std::string Read(const std::string& relative) {
  std::ifstream in(std::string(ATTEST_SOURCE_DIR) + "/" + relative);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Every `inline constexpr const char* kX = "id";` of the four catalogues; a
// prefix (ending in '_', completed by a PCR number) as the docs write it: "_N".
std::set<std::string> CatalogueIds() {
  const std::regex constant(R"re(inline constexpr const char\* k\w+ =\s*"([^"]+)";)re");
  std::set<std::string> ids;
  for (const char* path : {"common/checks/failure_ids.h", "common/eventlog/failure_ids.h",
                           "common/ima/failure_ids.h", "common/verifier/failure_ids.h"}) {
    const std::string text = Read(path);
    EXPECT_FALSE(text.empty()) << path;
    for (std::sregex_iterator it(text.begin(), text.end(), constant), end; it != end; ++it) {
      std::string id = (*it)[1];
      if (id.back() == '_') id += "N";
      ids.insert(id);
    }
  }
  return ids;
}

// The ids of the docs' table, `a.{x, y}` expanded; `worker_only` gets those
// whose source is the worker itself (not in these catalogues).
std::set<std::string> DocumentedIds(std::set<std::string>& worker_only) {
  const std::string doc = Read("docs/verification.md");
  const size_t begin = doc.find("## Failure ids");
  const size_t end = doc.find("\n## ", begin + 1);
  EXPECT_NE(begin, std::string::npos);
  std::istringstream table(doc.substr(begin, end - begin));
  const std::regex tick("`([^`]+)`");
  std::set<std::string> ids;
  for (std::string line; std::getline(table, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    const size_t bar1 = line.find('|', 1), bar2 = line.find('|', bar1 + 1);
    const std::string first = line.substr(1, bar1 - 1);
    const std::string source = line.substr(bar1 + 1, bar2 - bar1 - 1);
    const bool worker = source == " worker ";
    for (std::sregex_iterator it(first.begin(), first.end(), tick), e; it != e; ++it) {
      const std::string token = (*it)[1];
      const size_t brace = token.find(".{");
      std::set<std::string> expanded;
      if (brace == std::string::npos) {
        expanded.insert(token);
      } else {
        std::istringstream parts(token.substr(brace + 2, token.size() - brace - 3));
        for (std::string part; std::getline(parts, part, ',');) {
          part.erase(0, part.find_first_not_of(' '));
          expanded.insert(token.substr(0, brace + 1) + part);
        }
      }
      for (const auto& id : expanded) (worker ? worker_only : ids).insert(id);
    }
  }
  return ids;
}

TEST(FailureIds, TheCataloguesAreReadAsText) {
  const auto ids = CatalogueIds();
  EXPECT_TRUE(ids.count(attest::checks::failure_id::kQuoteReplay));
  EXPECT_TRUE(ids.count(attest::eventlog::failure_id::kPolicyDb));
  EXPECT_TRUE(ids.count(attest::ima::failure_id::kPcrMismatch));
  EXPECT_TRUE(ids.count(attest::verifier::failure_id::kImaCatchingUp));
  EXPECT_TRUE(ids.count(std::string(attest::checks::failure_id::kPcrInvalidPrefix) + "N"));
  EXPECT_GE(ids.size(), 40u);
}

TEST(FailureIds, EveryCatalogueIdIsDocumented) {
  std::set<std::string> worker_only;
  const auto documented = DocumentedIds(worker_only);
  for (const auto& id : CatalogueIds()) {
    EXPECT_TRUE(documented.count(id)) << id << " is not in docs/verification.md";
  }
}

TEST(FailureIds, EveryDocumentedIdOutsideTheWorkerIsInACatalogue) {
  std::set<std::string> worker_only;
  const auto documented = DocumentedIds(worker_only);
  EXPECT_TRUE(worker_only.count("evidence.malformed"));
  const auto catalogue = CatalogueIds();
  for (const auto& id : documented) {
    EXPECT_TRUE(catalogue.count(id)) << id << " is documented but in no failure_ids.h";
  }
}

}  // namespace
