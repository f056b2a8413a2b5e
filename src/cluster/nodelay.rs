//! TCP_NODELAY on the cluster bus links.
//!
//! Redis 7.0 does not set TCP_NODELAY on the links a node opens to the others' bus ports, so
//! Nagle's algorithm holds a small message back while the previous one is unacknowledged, and
//! the peer acknowledges late (Linux delays ACKs up to 40 ms) because its answer goes back on
//! its own link, not this one. Pings never noticed; a search's request and answer did: measured
//! here, a 3-master KNN 10 took 1.1 ms at the median, 51 ms at p99, and four clients got 212
//! queries a second. Client and replication sockets already have TCP_NODELAY (Redis's
//! defaults), so this sets it on the bus links too: every connected TCP socket of the process
//! whose peer is a node's bus port, or whose local port is this node's bus port.
//!
//! Run from the catalog timer (once a second: new links after a reconnect get it within a
//! second) and before a fan-out when a link is new. The sockets stay Redis's: they are borrowed
//! (never closed here), on the main thread, where Redis opens and closes them.

use std::collections::HashSet;
use std::mem::ManuallyDrop;
use std::net::TcpStream;
use std::os::fd::{FromRawFd, RawFd};

use redisai_backend_api::Reply;

use crate::redis::{call, Ctx, OwnedString};

/// The bus ports of every node (`ip:port@cport` in CLUSTER NODES), and this node's own.
fn bus_ports(ctx: &Ctx) -> Option<(HashSet<u16>, Option<u16>)> {
    let nodes = OwnedString::new(b"NODES");
    let mut argv = [nodes.as_ptr()];
    // SAFETY: a live context on the main thread.
    let Some(Ok(Reply::Str(text))) = (unsafe { call(ctx.raw_ctx(), c"CLUSTER", c"v", &mut argv) })
    else {
        return None;
    };
    let text = String::from_utf8_lossy(&text);
    let mut ports = HashSet::new();
    let mut mine = None;
    for line in text.lines() {
        let mut fields = line.split(' ');
        let (Some(_id), Some(addr), Some(flags)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let cport = addr
            .split_once('@')
            .and_then(|(_, c)| c.split(',').next())
            .and_then(|c| c.parse::<u16>().ok());
        if let Some(c) = cport {
            ports.insert(c);
            if flags.split(',').any(|f| f == "myself") {
                mine = Some(c);
            }
        }
    }
    Some((ports, mine))
}

pub fn refresh(ctx: &Ctx) {
    let Some((ports, mine)) = bus_ports(ctx) else {
        return;
    };
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in dir.flatten() {
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
        let fd = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<RawFd>().ok());
        let (true, Some(fd)) = (is_socket, fd) else {
            continue;
        };
        // SAFETY: a socket fd of this process, borrowed: ManuallyDrop never closes it.
        let s = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
        let (Ok(peer), Ok(local)) = (s.peer_addr(), s.local_addr()) else {
            continue; // Not a connected TCP socket (a listener, a Unix socket, a pipe).
        };
        let bus = ports.contains(&peer.port()) || Some(local.port()) == mine;
        if bus && s.nodelay().is_ok_and(|on| !on) {
            let _ = s.set_nodelay(true);
        }
    }
}
