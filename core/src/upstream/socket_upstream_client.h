/// @file upstream/socket_upstream_client.h
/// @brief The plain-HTTP upstream client on non-blocking sockets (no TLS).
#pragma once

#include "switchyard/upstream/upstream_client.h"

namespace switchyard {

/// A client for `http://` base URLs only: HTTP/1.1 on non-blocking sockets with poll(2) for
/// every wait, pooled keep-alive connections per origin and no iostreams on the request path.
/// Any other scheme is answered with kConnect ("bad upstream base URL").
UpstreamClientSharedPtr makeSocketUpstreamClient();

}  // namespace switchyard
