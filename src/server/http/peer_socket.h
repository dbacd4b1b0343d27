// Noticing that an HTTP client went away while its request is still generating.
//
// cpp-httplib hands a handler no socket, and a write only fails once the peer has reset the
// connection, so a request that is waiting (queued, or non-streaming) would keep its KV blocks
// until it finished. The handler does know both ends' addresses; this finds the connection's
// descriptor among the process's sockets (once, lazily) and peeks at it: end-of-file or a reset
// means the client closed. The descriptor stays valid while the handler runs, because the
// library closes a connection only after its handler returns.
#pragma once

#include <string>

namespace ferrite::server {

class PeerWatch {
 public:
  PeerWatch(std::string remote_addr, int remote_port, int local_port)
      : remote_addr_(std::move(remote_addr)), remote_port_(remote_port), local_port_(local_port) {}
  // True once the peer closed or reset the connection (false while unknown).
  bool closed();

 private:
  std::string remote_addr_;
  int remote_port_, local_port_;
  int fd_ = -1;
  bool searched_ = false;
};

}  // namespace ferrite::server
