//! An axum app served by synack over a TUN interface. As root:
//! `cargo run -p synack-tokio --example axum_on_synack`, then `curl http://10.77.0.2/`.
use axum::{routing::get, Router};
use synack_device::{TunConfig, TunDevice};
use synack_tokio::{Net, TcpListener};

#[tokio::main]
pub async fn main() -> std::io::Result<()> {
    serve(|| println!("listening on http://10.77.0.2/")).await
}

/// Serves the app; `ready` runs once synack listens.
pub async fn serve(ready: impl FnOnce()) -> std::io::Result<()> {
    // The kernel gets 10.77.0.1/24 on the interface synack0; synack answers for 10.77.0.2.
    let tun = TunDevice::create(&TunConfig::default())?;
    let net = Net::builder().address([10, 77, 0, 2].into()).spawn(tun);
    let listener = TcpListener::bind(&net, ([10, 77, 0, 2], 80).into()).await?;
    let app = Router::new().route("/", get(|| async { "Hello from axum on synack\n" }));
    ready();
    axum::serve(listener, app).await
}
