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

}  // namespace

Result<std::vector<SqlStatement>> SplitSqlScript(std::string_view s) {
  std::vector<SqlStatement> out;
  int line = 1;
  size_t i = 0;
  size_t start = std::string_view::npos;  // start of the current statement
  int start_line = 0;

  auto unterminated = [&](const char* what, int at_line) {
    return MakeError(errc::invalid_migrations, "unterminated " + std::string(what) +
                                                   " starting at line " + std::to_string(at_line));
  };
  auto begin_token = [&] {
    if (start == std::string_view::npos) {
      start = i;
      start_line = line;
    }
  };
  // Advances i by one character, counting lines.
  auto step = [&] {
    if (s[i] == '\n') ++line;
    ++i;
  };

  while (i < s.size()) {
    char c = s[i];
    char next = i + 1 < s.size() ? s[i + 1] : '\0';
    if (c == '-' && next == '-') {
      while (i < s.size() && s[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && next == '*') {
      int at = line;
      int depth = 0;
      do {
        if (i + 1 < s.size() && s[i] == '/' && s[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (i + 1 < s.size() && s[i] == '*' && s[i + 1] == '/') {
          --depth;
          i += 2;
        } else if (i < s.size()) {
          step();
        }
        if (i >= s.size() && depth > 0) return unterminated("comment", at);
      } while (depth > 0);
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      step();
      continue;
    }
    begin_token();
    if (c == '\'') {
      int at = line;
      bool escapes =
          i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') && (i < 2 || !IsIdentChar(s[i - 2]));
      ++i;
      bool closed = false;
      while (i < s.size()) {
        if (escapes && s[i] == '\\' && i + 1 < s.size()) {
          ++i;
          step();
          continue;
        }
        if (s[i] == '\'') {
          if (i + 1 < s.size() && s[i + 1] == '\'') {
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        step();
      }
      if (!closed) return unterminated("string", at);
      continue;
    }
    if (c == '"') {
      int at = line;
      ++i;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] == '"') {
          if (i + 1 < s.size() && s[i + 1] == '"') {
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        step();
      }
      if (!closed) return unterminated("quoted identifier", at);
      continue;
    }
    if (c == '$') {
      if (size_t n = DollarTagLength(s, i); n > 0) {
        int at = line;
        std::string_view tag = s.substr(i, n);
        i += n;
        size_t close = s.find(tag, i);
        if (close == std::string_view::npos) return unterminated("dollar-quoted string", at);
        while (i < close + n) step();
        continue;
      }
    }
    if (c == ';') {
      ++i;
      out.push_back({std::string(s.substr(start, i - start)), start_line});
      start = std::string_view::npos;
      continue;
    }
    step();
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
