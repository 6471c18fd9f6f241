#include "common/db/sql_script.h"

#include <cctype>
#include <charconv>

#include "common/db/errors.h"

namespace attest::db {
namespace {

bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// If script[i] starts a dollar-quote opener ($$ or $tag$), returns its length.
size_t DollarTagLength(std::string_view s, size_t i) {
  if (i > 0 && IsIdentChar(s[i - 1])) return 0;  // part of an identifier like a$b
  size_t j = i + 1;
  if (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])))) return 0;  // $1 param
  while (j < s.size() && s[j] != '$') {
    char c = s[j];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
          static_cast<unsigned char>(c) >= 0x80)) {
      return 0;
    }
    ++j;
  }
  if (j >= s.size()) return 0;
  return j - i + 1;
}

Error Unterminated(const char* what, int at_line) {
  return MakeError(errc::invalid_migrations, "unterminated " + std::string(what) +
                                                 " starting at line " + std::to_string(at_line));
}

// A position in the script that counts lines as it moves. Each Skip* is
// called at the construct's first character and leaves the cursor after it.
struct Cursor {
  std::string_view s;
  size_t i = 0;
  int line = 1;

  bool more() const { return i < s.size(); }
  char at(size_t k) const { return k < s.size() ? s[k] : '\0'; }
  // Advances by one character, counting lines.
  void Step() {
    if (s[i] == '\n') ++line;
    ++i;
  }

  // -- to the end of the line (the newline stays).
  void SkipLineComment() {
    while (i < s.size() && s[i] != '\n') ++i;
  }

  // /* ... */, nested.
  Result<void> SkipBlockComment() {
    const int start = line;
    int depth = 0;
    do {
      if (i + 1 < s.size() && s[i] == '/' && s[i + 1] == '*') {
        ++depth;
        i += 2;
      } else if (i + 1 < s.size() && s[i] == '*' && s[i + 1] == '/') {
        --depth;
        i += 2;
      } else if (i < s.size()) {
        Step();
      }
      if (i >= s.size() && depth > 0) return Unterminated("comment", start);
    } while (depth > 0);
    return Ok();
  }

  // '...' with '' escapes, and backslash escapes after an E prefix.
  Result<void> SkipString() {
    const int start = line;
    const bool escapes =
        i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') && (i < 2 || !IsIdentChar(s[i - 2]));
    ++i;
    while (i < s.size()) {
      if (escapes && s[i] == '\\' && i + 1 < s.size()) {
        ++i;
        Step();
        continue;
      }
      if (s[i] == '\'') {
        if (i + 1 < s.size() && s[i + 1] == '\'') {
          i += 2;
          continue;
        }
        ++i;
        return Ok();
      }
      Step();
    }
    return Unterminated("string", start);
  }

  // "..." with "" escapes.
  Result<void> SkipQuotedIdentifier() {
    const int start = line;
    ++i;
    while (i < s.size()) {
      if (s[i] == '"') {
        if (i + 1 < s.size() && s[i + 1] == '"') {
          i += 2;
          continue;
        }
        ++i;
        return Ok();
      }
      Step();
    }
    return Unterminated("quoted identifier", start);
  }

  // $tag$ ... $tag$ opening at i (n: the opener's length).
  Result<void> SkipDollarQuote(size_t n) {
    const int start = line;
    std::string_view tag = s.substr(i, n);
    i += n;
    size_t close = s.find(tag, i);
    if (close == std::string_view::npos) return Unterminated("dollar-quoted string", start);
    while (i < close + n) Step();
    return Ok();
  }
};

}  // namespace

Result<std::vector<SqlStatement>> SplitSqlScript(std::string_view s) {
  std::vector<SqlStatement> out;
  Cursor cur{s};
  size_t start = std::string_view::npos;  // start of the current statement
  int start_line = 0;
  while (cur.more()) {
    const char c = s[cur.i];
    const char next = cur.at(cur.i + 1);
    if (c == '-' && next == '-') {
      cur.SkipLineComment();
      continue;
    }
    if (c == '/' && next == '*') {
      ATTEST_RETURN_IF_ERROR(cur.SkipBlockComment());
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      cur.Step();
      continue;
    }
    if (start == std::string_view::npos) {  // the statement's first token
      start = cur.i;
      start_line = cur.line;
    }
    if (c == '\'') {
      ATTEST_RETURN_IF_ERROR(cur.SkipString());
    } else if (c == '"') {
      ATTEST_RETURN_IF_ERROR(cur.SkipQuotedIdentifier());
    } else if (size_t n = c == '$' ? DollarTagLength(s, cur.i) : 0; n > 0) {
      ATTEST_RETURN_IF_ERROR(cur.SkipDollarQuote(n));
    } else if (c == ';') {
      ++cur.i;
      out.push_back({std::string(s.substr(start, cur.i - start)), start_line});
      start = std::string_view::npos;
    } else {
      cur.Step();
    }
  }
  if (start != std::string_view::npos) {
    out.push_back({std::string(s.substr(start)), start_line});
  }
  // Drop empty statements (a lone ";").
  std::erase_if(out, [](const SqlStatement& st) { return st.text == ";"; });
  return out;
}

int ErrorLine(const SqlStatement& statement, std::string_view msg) {
  static constexpr std::string_view kMarker = "LINE ";
  size_t pos = 0;
  while ((pos = msg.find(kMarker, pos)) != std::string_view::npos) {
    // Only at the start of a line of the message.
    if (pos == 0 || msg[pos - 1] == '\n') {
      size_t digits = pos + kMarker.size();
      int n = 0;
      auto [end, ec] = std::from_chars(msg.data() + digits, msg.data() + msg.size(), n);
      if (ec == std::errc() && end < msg.data() + msg.size() && *end == ':' && n >= 1) {
        return statement.line + n - 1;
      }
    }
    pos += kMarker.size();
  }
  return statement.line;
}

std::string FirstKeyword(std::string_view statement) {
  std::string word;
  for (char c : statement) {
    if (!std::isalpha(static_cast<unsigned char>(c)) && c != '_') break;
    word.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return word;
}

}  // namespace attest::db
