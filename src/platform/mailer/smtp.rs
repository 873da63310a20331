//! Delivery to an SMTP relay over connections Agora opens itself and keeps for reuse.
//!
//! lettre speaks SMTP over a stream that is ours, for two reasons:
//! - `TCP_NODELAY`: lettre writes a message and its closing dot in two writes; with Nagle's
//!   algorithm on, the dot waits for the relay to acknowledge the message, which a relay
//!   delays (about 40 ms) while it waits for the rest, so every email would stall that long.
//! - The hand-over: the stream sees the closing dot (in plain text: TLS, implicit or after
//!   `STARTTLS`, is layered beneath it) and calls the email's [`HandOver`] right before it
//!   goes out, the last moment at which the relay cannot yet have the message.
//!
//! For `STARTTLS` the greeting, `EHLO` and `STARTTLS` are exchanged here, then the encrypted
//! stream goes to lettre behind a stand-in greeting, and lettre says `EHLO` again as the
//! protocol asks. A deadpool pool keeps up to `mailer.smtp.pool_max` connections, the latest
//! used first, and checks one with `NOOP` before reuse only when it has been idle a while.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::{Arc, Mutex};

use deadpool::managed::{self, Metrics, Object, Pool, PoolError, QueueMode, RecycleError};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::Error as SmtpError;
use tracing::Instrument;

use crate::platform::telemetry;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::{build_message, HandOver, MailError, Mailer, OutgoingEmail, Sent};
use crate::platform::config::{MailerSettings, SmtpTls};

/// Reused without a check when used this recently; checked with `NOOP` when idle for longer.
const FRESH: Duration = Duration::from_secs(5);
/// Closed rather than reused when idle this long: relays drop idle clients after a minute
/// or more, and a dead connection would cost the email an attempt.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

pub struct SmtpMailer {
    pool: Pool<Relay>,
    from: Mailbox,
    timeout: Duration,
}

impl SmtpMailer {
    pub fn new(settings: &MailerSettings, from: Mailbox) -> anyhow::Result<Self> {
        let smtp = &settings.smtp;
        let tls = match smtp.tls {
            SmtpTls::None => RelayTls::None,
            SmtpTls::Starttls => RelayTls::Starttls(TlsParameters::new(smtp.host.clone())?),
            SmtpTls::Tls => RelayTls::Implicit(TlsParameters::new(smtp.host.clone())?),
        };
        let credentials = (!smtp.username.is_empty())
            .then(|| Credentials::new(smtp.username.clone(), smtp.password.expose().to_string()));
        let timeout = Duration::from_secs(smtp.timeout_secs);
        let relay = Relay {
            host: smtp.host.clone(),
            port: smtp.port,
            tls,
            credentials,
            hello: ClientId::default(),
            timeout,
        };
        let pool = Pool::builder(relay)
            .max_size(smtp.pool_max.max(1) as usize)
            .queue_mode(QueueMode::Lifo)
            .build()?;
        Ok(Self {
            pool,
            from,
            timeout,
        })
    }
}

fn classify(e: SmtpError) -> MailError {
    if e.is_permanent() {
        MailError::Permanent(e.to_string())
    } else {
        MailError::Transient(e.to_string())
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<Sent, MailError> {
        let span = telemetry::client_span("smtp send");
        let result = self.deliver(email).instrument(span.clone()).await;
        if result.is_err() {
            telemetry::record_error(&span);
        }
        result
    }

    fn transport(&self) -> &'static str {
        "smtp"
    }
}

impl SmtpMailer {
    /// One SMTP conversation on a pooled connection.
    async fn deliver(&self, email: &OutgoingEmail) -> Result<Sent, MailError> {
        let message = build_message(email, &self.from)?;
        let envelope = message.envelope().clone();
        let bytes = message.formatted();
        let mut connection = match self.pool.get().await {
            Ok(c) => c,
            Err(PoolError::Backend(e)) => return Err(e),
            Err(e) => return Err(MailError::Transient(e.to_string())),
        };
        *connection.hand_over.lock().expect("hand-over lock") = email.hand_over.clone();
        let sent = tokio::time::timeout(self.timeout, connection.smtp.send(&envelope, &bytes));
        let sent = sent.await;
        connection.hand_over.lock().expect("hand-over lock").take();
        match sent {
            // lettre marks a connection broken after an error; the pool then drops it.
            Ok(Ok(response)) => Ok(Sent {
                response: format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ),
            }),
            Ok(Err(e)) => Err(classify(e)),
            Err(_) => {
                // Cut short mid-conversation: never handed to another email.
                drop(Object::take(connection));
                Err(MailError::Transient(format!(
                    "the relay did not answer within {} s",
                    self.timeout.as_secs()
                )))
            }
        }
    }
}

enum RelayTls {
    None,
    Starttls(TlsParameters),
    Implicit(TlsParameters),
}

/// Opens and checks connections to the relay for the pool.
struct Relay {
    host: String,
    port: u16,
    tls: RelayTls,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
}

impl Relay {
    async fn open(&self) -> Result<Connection, MailError> {
        let unreachable = |e: io::Error| {
            MailError::Transient(format!("connecting to {}:{}: {e}", self.host, self.port))
        };
        let mut tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(unreachable)?;
        tcp.set_nodelay(true).map_err(unreachable)?;
        let peer = tcp.peer_addr().map_err(unreachable)?;
        let hand_over = Arc::new(Mutex::new(None));
        let watched = |inner: Box<dyn Stream>, greeting: &'static [u8]| {
            Box::new(Watched {
                inner,
                peer,
                greeting,
                hand_over: hand_over.clone(),
            })
        };
        let stream = match &self.tls {
            RelayTls::None => watched(Box::new(tcp), b""),
            RelayTls::Starttls(parameters) => {
                starttls(&mut tcp, &self.hello).await?;
                let tls = encrypt(tcp, parameters).await.map_err(classify)?;
                watched(tls, b"220 encrypted\r\n")
            }
            RelayTls::Implicit(parameters) => {
                watched(encrypt(tcp, parameters).await.map_err(classify)?, b"")
            }
        };
        let mut smtp = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(classify)?;
        if let Some(credentials) = &self.credentials {
            smtp.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(classify)?;
        }
        Ok(Connection { smtp, hand_over })
    }
}

/// A pooled connection and the hand-over of the email it is sending.
struct Connection {
    smtp: AsyncSmtpConnection,
    hand_over: Arc<Mutex<Option<HandOver>>>,
}

/// lettre's TLS over our socket (it keeps the relay's name and the root certificates).
async fn encrypt(tcp: TcpStream, parameters: &TlsParameters) -> Result<Box<dyn Stream>, SmtpError> {
    #[allow(deprecated)] // lettre's one way to wrap a socket of ours in its TLS
    let mut stream =
        lettre::transport::smtp::client::AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
    stream.upgrade_tls(parameters.clone()).await?;
    Ok(Box::new(stream.compat()))
}

/// The plain-text start of a `STARTTLS` session: greeting, `EHLO`, `STARTTLS`.
async fn starttls(tcp: &mut TcpStream, hello: &ClientId) -> Result<(), MailError> {
    let mut relay = BufReader::new(tcp);
    answer(&mut relay, "220").await?;
    let ehlo = format!("EHLO {hello}\r\n");
    relay
        .get_mut()
        .write_all(ehlo.as_bytes())
        .await
        .map_err(lost)?;
    let offers = answer(&mut relay, "250").await?;
    if !offers.iter().any(|l| l.eq_ignore_ascii_case("STARTTLS")) {
        return Err(MailError::Transient(
            "the relay does not offer STARTTLS (mailer.smtp.tls = \"starttls\")".into(),
        ));
    }
    relay
        .get_mut()
        .write_all(b"STARTTLS\r\n")
        .await
        .map_err(lost)?;
    answer(&mut relay, "220").await?;
    Ok(())
}

fn lost(e: io::Error) -> MailError {
    MailError::Transient(format!("talking to the relay: {e}"))
}

/// Reads one reply, which may span lines (`250-...` then `250 ...`): its lines' text, if its
/// code is `code`.
async fn answer(
    relay: &mut BufReader<&mut TcpStream>,
    code: &str,
) -> Result<Vec<String>, MailError> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if relay.read_line(&mut line).await.map_err(lost)? == 0 {
            return Err(lost(io::ErrorKind::UnexpectedEof.into()));
        }
        let line = line.trim_end();
        if !line.starts_with(code) {
            let refused = format!("the relay answered {line:?} where {code} was expected");
            return Err(if line.starts_with('5') {
                MailError::Permanent(refused)
            } else {
                MailError::Transient(refused)
            });
        }
        lines.push(line.get(4..).unwrap_or_default().to_string());
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(lines);
        }
    }
}

impl managed::Manager for Relay {
    type Type = Connection;
    type Error = MailError;

    async fn create(&self) -> Result<Connection, MailError> {
        match tokio::time::timeout(self.timeout, self.open()).await {
            Ok(opened) => opened,
            Err(_) => Err(MailError::Transient(format!(
                "connecting to {}:{} timed out",
                self.host, self.port
            ))),
        }
    }

    async fn recycle(
        &self,
        connection: &mut Connection,
        metrics: &Metrics,
    ) -> managed::RecycleResult<MailError> {
        let connection = &mut connection.smtp;
        let idle = metrics.last_used();
        if connection.has_broken() {
            return Err(RecycleError::message("broken"));
        }
        if idle > IDLE_LIMIT {
            connection.abort().await;
            return Err(RecycleError::message("idle too long"));
        }
        if idle > FRESH && !connection.test_connected().await {
            return Err(RecycleError::message("closed by the relay"));
        }
        Ok(())
    }
}

/// What `Watched` wraps: our socket, or lettre's TLS over it.
trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + std::fmt::Debug> Stream for T {}

/// The end of the DATA section; lettre writes it on its own, and dot-stuffing keeps it out
/// of any message.
const CLOSING_DOT: &[u8] = b"\r\n.\r\n";

/// The plain-text stream lettre talks through: replays a stand-in greeting, and calls the
/// current email's hand-over before writing its closing dot. A hand-over that fails (its
/// journal cannot be written) fails the write, so the email is not sent unrecorded.
#[derive(Debug)]
struct Watched {
    inner: Box<dyn Stream>,
    peer: SocketAddr,
    greeting: &'static [u8],
    hand_over: Arc<Mutex<Option<HandOver>>>,
}

impl AsyncTokioStream for Watched {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.greeting.is_empty() {
            let n = self.greeting.len().min(buf.remaining());
            buf.put_slice(&self.greeting[..n]);
            self.greeting = &self.greeting[n..];
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf == CLOSING_DOT {
            let hand_over = self.hand_over.lock().expect("hand-over lock").take();
            if let Some(hand_over) = hand_over {
                hand_over.call()?;
            }
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
