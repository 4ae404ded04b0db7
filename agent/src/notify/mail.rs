//! Sending one mail through the admin's SMTP relay with lettre (tokio, rustls with ring).
//!
//! The relay's certificate is checked against the system's authorities plus the one the
//! admin gave for a relay with its own (`ca_pem`); `starttls` requires the upgrade (a relay
//! that does not offer it is refused, so the password never crosses in clear); `none` is for
//! a relay on the box or its LAN. The password reaches lettre only, never a log line.

use super::NotifyError;
use crate::store::{MailRow, MailSecurity};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A mail to send: its subject and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub subject: String,
    pub body: String,
}

pub fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, NotifyError> {
    value
        .parse()
        .map_err(|e: lettre::address::AddressError| NotifyError::BadAddress {
            field,
            value: value.to_owned(),
            detail: e.to_string(),
        })
}

fn tls_parameters(row: &MailRow) -> Result<TlsParameters, NotifyError> {
    let tls_error = |e: lettre::transport::smtp::Error| NotifyError::Tls(e.to_string());
    // The system's authorities (rustls-native-certs), plus the relay's own if given.
    let mut b =
        TlsParameters::builder(row.host.clone()).certificate_store(CertificateStore::Default);
    if let Some(ca) = &row.ca_pem {
        b = b.add_root_certificate(Certificate::from_pem(ca.as_bytes()).map_err(tls_error)?);
    }
    b.build_rustls().map_err(tls_error)
}

pub async fn send(row: &MailRow, default_from: &str, mail: &Mail) -> Result<(), NotifyError> {
    let from = mailbox("from", row.from.as_deref().unwrap_or(default_from))?;
    let message = Message::builder()
        .from(from)
        .to(mailbox("to", &row.to)?)
        .subject(&mail.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| NotifyError::Send(e.to_string()))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(row.host.as_str())
        .port(row.port)
        .timeout(Some(TIMEOUT));
    builder = match row.security {
        MailSecurity::Starttls => builder.tls(Tls::Required(tls_parameters(row)?)),
        MailSecurity::Tls => builder.tls(Tls::Wrapper(tls_parameters(row)?)),
        MailSecurity::None => builder.tls(Tls::None),
    };
    if let (Some(user), Some(password)) = (&row.username, &row.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    builder
        .build()
        .send(message)
        .await
        .map_err(|e| NotifyError::Send(e.to_string()))?;
    Ok(())
}
