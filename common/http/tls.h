// TLS helpers of the server (internal to common/http).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>

#include <memory>

#include "common/base/result.h"
#include "common/http/message.h"
#include "common/http/server.h"

namespace attest::http::internal {

// A server context: TLS >= 1.2, certificate chain and key from the options,
// client verification per options.client_auth.
Result<std::unique_ptr<boost::asio::ssl::context>> MakeServerContext(const ServerOptions& o);

// The peer's verified certificate, or nullptr.
std::shared_ptr<const ClientCert> VerifiedPeer(SSL* ssl);

}  // namespace attest::http::internal
