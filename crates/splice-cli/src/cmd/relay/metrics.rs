//! `--metrics ADDR`: the relay's counters as Prometheus text on plain HTTP (`GET /metrics`,
//! served by tokio directly: one request line read, one response, the connection closed), and
//! the same summary on stderr at `SIGUSR1`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One upstream's counter.
#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    pub connections: AtomicU64,
}

/// Everything counted; shared by all workers.
#[derive(Debug, Default)]
pub struct Metrics {
    pub accepted: AtomicU64,
    pub active: AtomicU64,
    /// Closed at once by `--refuse-excess`.
    pub refused: AtomicU64,
    /// Ended by an error on the client's side (reset, timeout, bad PROXY header).
    pub failed_client: AtomicU64,
    /// Ended by an error on the upstream's side (refused, timed out, reset).
    pub failed_upstream: AtomicU64,
    /// Ended by the relay's own shortage: no descriptor for the upstream socket.
    pub failed_relay: AtomicU64,
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
    /// Connections whose bytes moved by splice, and by the buffered fallback.
    pub by_splice: AtomicU64,
    pub by_copy: AtomicU64,
    pub upstreams: Vec<Upstream>,
}

impl Metrics {
    pub fn new(upstreams: impl IntoIterator<Item = String>) -> Metrics {
        Metrics {
            upstreams: upstreams
                .into_iter()
                .map(|name| Upstream {
                    name,
                    connections: AtomicU64::new(0),
                })
                .collect(),
            ..Metrics::default()
        }
    }

    /// Prometheus text exposition format 0.0.4; `up[i]` says whether upstream `i` takes
    /// connections now (it is not marked down).
    pub fn render(&self, up: &[bool]) -> String {
        let mut s = String::new();
        let mut one = |name: &str, kind: &str, help: &str, rows: &[(String, u64)]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(s, "{name}{labels} {v}");
            }
        };
        let n = |a: &AtomicU64| a.load(Relaxed);
        let plain = |a: &AtomicU64| vec![(String::new(), n(a))];
        one(
            "splice_relay_connections_accepted_total",
            "counter",
            "Connections accepted.",
            &plain(&self.accepted),
        );
        one(
            "splice_relay_connections_active",
            "gauge",
            "Connections open now.",
            &plain(&self.active),
        );
        one(
            "splice_relay_connections_refused_total",
            "counter",
            "Connections closed at once by --refuse-excess.",
            &plain(&self.refused),
        );
        one(
            "splice_relay_connections_failed_total",
            "counter",
            "Connections ended by an error, by the side that failed (relay: out of descriptors).",
            &[
                ("{side=\"client\"}".into(), n(&self.failed_client)),
                ("{side=\"upstream\"}".into(), n(&self.failed_upstream)),
                ("{side=\"relay\"}".into(), n(&self.failed_relay)),
            ],
        );
        one(
            "splice_relay_bytes_total",
            "counter",
            "Bytes delivered, client to upstream (up) and back (down).",
            &[
                ("{direction=\"up\"}".into(), n(&self.bytes_up)),
                ("{direction=\"down\"}".into(), n(&self.bytes_down)),
            ],
        );
        one(
            "splice_relay_connections_by_path_total",
            "counter",
            "Finished connections by how their bytes moved.",
            &[
                ("{path=\"splice\"}".into(), n(&self.by_splice)),
                ("{path=\"copy\"}".into(), n(&self.by_copy)),
            ],
        );
        let label = |u: &Upstream| format!("{{upstream=\"{}\"}}", escape(&u.name));
        let up: Vec<_> = self
            .upstreams
            .iter()
            .zip(up)
            .map(|(u, &on)| (label(u), u64::from(on)))
            .collect();
        one(
            "splice_relay_upstream_up",
            "gauge",
            "Whether the upstream takes connections (0 while it is marked down).",
            &up,
        );
        let used: Vec<_> = self
            .upstreams
            .iter()
            .map(|u| (label(u), n(&u.connections)))
            .collect();
        one(
            "splice_relay_upstream_connections_total",
            "counter",
            "Connections relayed to each upstream.",
            &used,
        );
        s
    }

    /// The `SIGUSR1` line.
    pub fn summary(&self, up: &[bool]) -> String {
        let n = |a: &AtomicU64| a.load(Relaxed);
        let mut s = format!(
            "relay: {} accepted, {} active, {} refused, {} failed (client {}, upstream {}, \
             relay {}), \
             up {} down {} bytes, {} by splice, {} by copy",
            n(&self.accepted),
            n(&self.active),
            n(&self.refused),
            n(&self.failed_client) + n(&self.failed_upstream) + n(&self.failed_relay),
            n(&self.failed_client),
            n(&self.failed_upstream),
            n(&self.failed_relay),
            n(&self.bytes_up),
            n(&self.bytes_down),
            n(&self.by_splice),
            n(&self.by_copy),
        );
        for (u, &on) in self.upstreams.iter().zip(up) {
            let state = if on { "up" } else { "down" };
            let _ = write!(s, "; {} {state}, {} connections", u.name, n(&u.connections));
        }
        s
    }
}

/// A label value as Prometheus wants it: `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves `GET /metrics` on `listener` with what `render` gives, until the runtime stops.
pub async fn serve(
    listener: tokio::net::TcpListener,
    render: Arc<dyn Fn() -> String + Send + Sync>,
) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            continue;
        };
        let render = render.clone();
        tokio::spawn(async move {
            let mut req = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            // The request head, at most 8 KiB, at most 5 s.
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return false,
                        Ok(k) => req.extend_from_slice(&buf[..k]),
                    }
                }
                true
            })
            .await;
            if !matches!(read, Ok(true)) {
                return;
            }
            let line = req.split(|&b| b == b'\r').next().unwrap_or_default();
            let (status, body) = if line.starts_with(b"GET /metrics ") {
                ("200 OK", render())
            } else {
                ("404 Not Found", "only GET /metrics is served\n".to_string())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
            let _ = s.shutdown().await;
        });
    }
}

/// Prints what `summary` gives on stderr at every `SIGUSR1` (the handler installed by the
/// caller, before the relay says it listens) until the runtime stops.
pub async fn on_sigusr1(
    mut sig: tokio::signal::unix::Signal,
    summary: Arc<dyn Fn() -> String + Send + Sync>,
) {
    while sig.recv().await.is_some() {
        eprintln!("{}", summary());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_has_every_counter() {
        let m = Metrics::new(["127.0.0.1:80".to_string(), "we\"ird".to_string()]);
        m.accepted.fetch_add(3, Relaxed);
        m.bytes_up.fetch_add(500, Relaxed);
        m.upstreams[0].connections.fetch_add(2, Relaxed);
        let t = m.render(&[true, false]);
        assert!(
            t.contains("\nsplice_relay_connections_accepted_total 3\n"),
            "{t}"
        );
        assert!(
            t.contains("\nsplice_relay_bytes_total{direction=\"up\"} 500\n"),
            "{t}"
        );
        assert!(
            t.contains("splice_relay_upstream_up{upstream=\"we\\\"ird\"} 0\n"),
            "{t}"
        );
        assert!(
            t.contains("splice_relay_upstream_connections_total{upstream=\"127.0.0.1:80\"} 2\n")
        );
        // Every sample line belongs to a declared metric.
        for l in t.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            assert!(t.contains(&format!("# TYPE {name} ")), "{l}");
        }
        let s = m.summary(&[true, false]);
        assert!(s.starts_with("relay: 3 accepted, 0 active"), "{s}");
        assert!(s.ends_with("; we\"ird down, 0 connections"), "{s}");
    }
}
