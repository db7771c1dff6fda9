//! A TCP proxy in a few lines: every connection to LISTEN is relayed to UPSTREAM socket → pipe
//! → socket, both ways, with `splicekit::tokio::relay`.
//!
//! ```sh
//! cargo run --release -p splicekit --features tokio --example proxy -- 127.0.0.1:8080 127.0.0.1:80
//! # With no arguments it checks itself: an echo server upstream, the proxy in front, one
//! # client whose bytes must come back through both relays unchanged (exit 1 otherwise):
//! cargo run -p splicekit --features tokio --example proxy
//! ```

use std::process::ExitCode;
use std::time::Duration;

use sha2::{Digest, Sha256};
use splicekit::tokio::{relay, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => self_check().await,
        [listen, upstream] => match TcpListener::bind(listen).await {
            Ok(listener) => {
                eprintln!("proxy: {listen} -> {upstream}");
                serve(listener, upstream.clone()).await.map(|()| true)
            }
            Err(e) => Err(e),
        },
        _ => {
            eprintln!("usage: proxy LISTEN UPSTREAM   (e.g. 127.0.0.1:8080 127.0.0.1:80)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Relays every connection accepted on `listener` to `upstream`, each on its own task.
async fn serve(listener: TcpListener, upstream: String) -> std::io::Result<()> {
    loop {
        let (client, peer) = listener.accept().await?;
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let server = match TcpStream::connect(&upstream).await {
                Ok(s) => s,
                Err(e) => return eprintln!("proxy: {peer}: upstream {upstream}: {e}"),
            };
            let opts = Options {
                idle_timeout: Some(Duration::from_secs(300)),
                ..Options::default()
            };
            match relay(&client, &server, &opts).await {
                Ok(r) => eprintln!("proxy: {peer}: {} bytes up, {} down", r.a_to_b, r.b_to_a),
                Err(e) => {
                    let side = if e.on_a() { "client" } else { "upstream" };
                    eprintln!("proxy: {peer}: {side}: {e}");
                }
            }
        });
    }
}

/// An echo server behind the proxy; a client sends a few MiB, half-closes, and must read the
/// same bytes back.
async fn self_check() -> std::io::Result<bool> {
    let echo = TcpListener::bind("127.0.0.1:0").await?;
    let upstream = echo.local_addr()?.to_string();
    tokio::spawn(async move {
        let (mut s, _) = echo.accept().await?;
        let (mut r, mut w) = s.split();
        tokio::io::copy(&mut r, &mut w).await?;
        w.shutdown().await
    });
    let front = TcpListener::bind("127.0.0.1:0").await?;
    let front_addr = front.local_addr()?;
    tokio::spawn(serve(front, upstream));

    let sent: Vec<u8> = (0..(3 << 20) + 5).map(|i: u32| (i % 239) as u8).collect();
    let (mut r, mut w) = TcpStream::connect(front_addr).await?.into_split();
    let data = sent.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&data).await?;
        w.shutdown().await
    });
    let mut back = Vec::new();
    r.read_to_end(&mut back).await?;
    writer.await??;
    let ok = Sha256::digest(&back) == Sha256::digest(&sent);
    if ok {
        println!("proxy: ok ({} bytes there and back)", back.len());
    } else {
        eprintln!(
            "proxy: MISMATCH: sent {} bytes, got {} back",
            sent.len(),
            back.len()
        );
    }
    Ok(ok)
}
