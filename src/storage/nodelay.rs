//! TCP_NODELAY for PostgreSQL connections.
//!
//! sqlx 0.9.0 stopped setting TCP_NODELAY on its sockets (sqlx issue #4335, fixed upstream after the 0.9.0
//! release). Without it, the small Execute/Sync message that follows a large Bind waits for the server's delayed
//! ACK: measured here, one ingest batch in five took 50 ms instead of 10 ms, halving throughput. sqlx exposes no
//! socket, so after each new connection Herald sets the option on every socket of its own process (the new one
//! among them). Setting it on a socket that already has it, or on a socket that is not TCP (the call then fails
//! and is ignored), changes nothing. Remove this module once sqlx ships the fix.

/// Sets TCP_NODELAY on every TCP socket this process has open.
#[cfg(target_os = "linux")]
pub fn enable_on_open_sockets() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in entries.flatten() {
        let is_socket = std::fs::read_link(entry.path())
            .map(|target| target.to_string_lossy().starts_with("socket:"))
            .unwrap_or(false);
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<libc::c_int>() else {
            continue;
        };
        if !is_socket {
            continue;
        }
        let on: libc::c_int = 1;
        // SAFETY: `fd` is a descriptor of this process and `on` outlives the call; setsockopt only reads
        // `size_of::<c_int>()` bytes from it. On a descriptor that is not (or no longer) a TCP socket the call fails
        // with ENOTSOCK or EOPNOTSUPP, which is ignored.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// Elsewhere the workaround is not available; connections keep sqlx's defaults.
#[cfg(not(target_os = "linux"))]
pub fn enable_on_open_sockets() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn open_tcp_sockets_get_tcp_nodelay() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        stream.set_nodelay(false).unwrap();
        super::enable_on_open_sockets();
        assert!(stream.nodelay().unwrap());
    }
}
