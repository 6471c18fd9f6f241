// What a version-2 challenge token binds (common/token/token.h: the PCR bank,
// the PCR mask and "UEFI log requested") against what the Challenge message
// says. The worker judges the evidence by the token, so the agent follows
// the token: a gateway that says one thing in the message and binds another
// could otherwise make an honest agent's evidence look withheld or short
// (issue 17.3). Pure; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "attest/v1/attestation.pb.h"

namespace attest::agent {

// Why the message's PCR selection is not the one its token binds, or nullopt
// (they agree, or a version-1 token binds nothing). The agent refuses such a
// challenge: quoting either would give evidence the worker rejects.
std::optional<std::string> SelectionMismatch(const v1::Challenge& challenge);

// The UEFI log is asked for by the message or by the token's flag.
bool UefiLogAsked(const v1::Challenge& challenge);

}  // namespace attest::agent
