//! A TCP proxy in a few lines: every connection to LISTEN is relayed to UPSTREAM socket → pipe
//! → socket, both ways, with `splicekit::tokio::relay`.
//!
//! ```sh
//! cargo run --release -p splicekit --features tokio --example proxy -- 127.0.0.1:8080 127.0.0.1:80
//! ```

use std::time::Duration;

use splicekit::tokio::{relay, Options};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: proxy LISTEN UPSTREAM   (e.g. 127.0.0.1:8080 127.0.0.1:80)");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(&listen).await?;
    eprintln!("proxy: {listen} -> {upstream}");
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
