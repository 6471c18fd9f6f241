// The one way agent-controlled bytes (IMA paths, event-log strings, key ids,
// parser messages that quote input) become text for PostgreSQL, the verdict
// topic (protobuf and JSON), logs and terminals.
//
// EscapeBytes is lossless and its output is always valid UTF-8 with no
// control character in it:
//   - a backslash becomes two backslashes;
//   - every byte of a C0 control (0x00-0x1f), DEL (0x7f), a C1 control
//     (U+0080-U+009F, which terminals may read as CSI), a bidirectional
//     formatting character (U+202A-U+202E, U+2066-U+2069, which reorder
//     what a reader sees) or of a sequence that is not valid UTF-8 (overlong,
//     surrogate, above U+10FFFF, truncated) becomes \xHH (lower-case hex);
//   - everything else (printable ASCII and valid UTF-8) is copied.
// So "/tmp/a\nb\xff" is written as "/tmp/a\x0ab\xff" and UnescapeBytes gives
// the original bytes back. docs/soc.md documents it for consumers.
//
// TerminalSafe is for printing text that should already be escaped (a
// verdict read back from Kafka): it escapes only control characters and
// invalid UTF-8, the same way, and leaves backslashes alone, so text a worker
// wrote is printed unchanged and a record forged with raw escape sequences
// cannot drive the terminal.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace attest {

std::string EscapeBytes(std::string_view bytes);
// The original bytes of EscapeBytes' output; nullopt for text it cannot have
// written (a lone backslash, a bad \x sequence).
std::optional<std::string> UnescapeBytes(std::string_view text);
std::string TerminalSafe(std::string_view text);

}  // namespace attest
