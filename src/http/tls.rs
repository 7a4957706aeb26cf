//! The gateway's own TLS listener (OpenSSL): the acceptor from the start-up material, and the client
//! certificate of each connection, read once when it connects and handed to the handlers.

use std::any::Any;
use std::sync::Arc;

use actix_tls::accept::openssl::TlsStream;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use actix_web::HttpRequest;
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslMethod, SslVerifyMode};
use openssl::x509::X509VerifyResult;

use crate::clients::PeerCertificate;
use crate::startup::TlsSettings;

/// The client certificate a connection presented (connection data).
#[derive(Debug, Clone)]
pub struct ClientCertificate(pub Arc<PeerCertificate>);

/// The acceptor: Mozilla's intermediate profile (TLS 1.2 and 1.3), the configured chain and key, and, when
/// some client authenticates with a certificate, a request for one. Every certificate is let through the
/// handshake (a self-signed one is a client's identity under RFC 8705 §2.2); whether the chain verified
/// against the configured CAs is kept with it, and `tls_client_auth` requires that it did.
pub fn acceptor(settings: &TlsSettings) -> std::io::Result<SslAcceptorBuilder> {
    let io = |e: openssl::error::ErrorStack| std::io::Error::other(format!("TLS set-up: {e}"));
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(io)?;
    b.set_private_key(&settings.key).map_err(io)?;
    let mut chain = settings.chain.iter();
    if let Some(leaf) = chain.next() {
        b.set_certificate(leaf).map_err(io)?;
    }
    for extra in chain {
        b.add_extra_chain_cert(extra.clone()).map_err(io)?;
    }
    b.check_private_key().map_err(io)?;
    if settings.request_client_certificate {
        for ca in &settings.client_cas {
            b.cert_store_mut().add_cert(ca.clone()).map_err(io)?;
            b.add_client_ca(ca).map_err(io)?;
        }
        b.set_verify_callback(SslVerifyMode::PEER, |_chain_ok, _ctx| true);
    }
    Ok(b)
}

/// `HttpServer::on_connect`: keeps the connection's client certificate, if it presented one.
pub fn capture_client_certificate(connection: &dyn Any, data: &mut Extensions) {
    let Some(tls) = connection.downcast_ref::<TlsStream<TcpStream>>() else {
        return;
    };
    let ssl = tls.ssl();
    let Some(cert) = ssl.peer_certificate() else {
        return;
    };
    let chain_verified = ssl.verify_result() == X509VerifyResult::OK;
    if let Some(peer) = PeerCertificate::from_x509(&cert, chain_verified) {
        data.insert(ClientCertificate(Arc::new(peer)));
    }
}

/// The request's client certificate, from its connection.
pub fn client_certificate(req: &HttpRequest) -> Option<Arc<PeerCertificate>> {
    req.conn_data::<ClientCertificate>().map(|c| c.0.clone())
}
