//! `splice relay -` under systemd-style socket activation: a `python3` wrapper binds the
//! listening socket, passes it as fd 3 with `LISTEN_FDS=1` and `LISTEN_PID` = its own pid,
//! and execs the relay (same pid); the relay serves on it, and on exit leaves a passed Unix
//! socket file where it is (the service manager's, not the relay's).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use super::Relay;
use crate::util::{data, have, sha};

/// Binds `sock` (a TCP or Unix socket made from Python's `socket` module, `addr`), puts it
/// on fd 3 and execs argv[1..] with the activation variables set.
fn wrapper(sock: &str, addr: &str) -> String {
    format!(
        "import os, socket, sys\n\
         s = {sock}\n\
         s.bind({addr}); s.listen(64)\n\
         if s.fileno() != 3: os.dup2(s.fileno(), 3)\n\
         os.set_inheritable(3, True)\n\
         os.environ['LISTEN_FDS'] = '1'; os.environ['LISTEN_PID'] = str(os.getpid())\n\
         os.execv(sys.argv[1], sys.argv[1:])\n"
    )
}

/// 100,000 bytes up through `c` checked by hash at the upstream, an answer back.
fn through(mut c: impl Read + Write + Send + 'static, l: &TcpListener) {
    let body = data(100_000);
    let want = sha(&body);
    let w = std::thread::spawn(move || {
        c.write_all(&body).unwrap();
        c
    });
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = vec![0; 100_000];
    s.read_exact(&mut got).unwrap();
    assert_eq!(sha(&got), want);
    super::reply_and_check(s, w, b"ok");
}

#[test]
fn a_socket_passed_by_a_service_manager_is_served() {
    if !have("python3", "it passes the listening socket as systemd would") {
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap().to_string();
    let tcp = wrapper("socket.socket()", "('127.0.0.1', 0)");
    let relay = Relay::start_with(&["python3", "-c", &tcp], "-", &up, &["-j", "2"]);
    for _ in 0..3 {
        let c = std::net::TcpStream::connect(&relay.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        through(c, &l);
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("activated.sock");
    let unix = wrapper(
        "socket.socket(socket.AF_UNIX)",
        &format!("{:?}", path.display().to_string()),
    );
    let mut relay = Relay::start_with(&["python3", "-c", &unix], "-", &up, &[]);
    assert_eq!(relay.addr, format!("unix:{}", path.display()));
    let c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    through(c, &l);
    relay.signal("TERM");
    assert_eq!(relay.wait(Duration::from_secs(5)), Some(0));
    assert!(
        path.exists(),
        "the passed socket's file is not the relay's to remove"
    );
}

#[test]
fn dash_without_passed_sockets_is_an_error() {
    let o = std::process::Command::new(crate::util::splice())
        .args(["relay", "-", "9"])
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("LISTEN '-' means the sockets a service manager passes"),
        "{err}"
    );
}
