//! The Canon printing client of the Flickr story, as a tiny web app.
//!
//!     cargo run --release -- serve                 # gatehouse's embedded demo
//!     cargo run --example printing_client          # then open http://127.0.0.1:9000/

mod app;

use clap::Parser;
use std::sync::{Arc, RwLock};

#[derive(Parser)]
#[command(about = "Canon printing client: prints your Flickr photos via gatehouse")]
struct Args {
    /// gatehouse's issuer URL (endpoints are discovered from it).
    #[arg(long, env = "PRINTING_ISSUER", default_value = "http://127.0.0.1:8080")]
    issuer: String,
    #[arg(long, env = "PRINTING_CLIENT_ID", default_value = "printer")]
    client_id: String,
    #[arg(long, env = "PRINTING_CLIENT_SECRET", default_value = "printer-demo-secret")]
    client_secret: String,
    /// Where this app listens.
    #[arg(long, env = "PRINTING_LISTEN", default_value = "127.0.0.1:9000")]
    listen: String,
    /// The callback registered with gatehouse [default: http://LISTEN/callback].
    #[arg(long, env = "PRINTING_REDIRECT_URI")]
    redirect_uri: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let a = Args::parse();
    let settings = app::Settings {
        issuer: a.issuer.trim_end_matches('/').to_string(),
        redirect_uri: a
            .redirect_uri
            .unwrap_or_else(|| format!("http://{}/callback", a.listen)),
        client_id: a.client_id,
        client_secret: a.client_secret,
    };
    let listener = tokio::net::TcpListener::bind(&a.listen).await?;
    println!(
        "Canon Printing on http://{}/ (gatehouse at {})",
        listener.local_addr()?,
        settings.issuer
    );
    axum::serve(listener, app::router(Arc::new(RwLock::new(settings)))).await
}
