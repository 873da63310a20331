//! The SMTP adapter against a real SMTP server (aiosmtpd, started here on a free port).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use agora::platform::config::{MailTransport, SmtpTls};
use agora::platform::mailer::{self, HandOver, MailError, OutgoingEmail};

use crate::helpers::{test_settings, wait_for_child_port, TestDb};

struct SmtpServer {
    child: Child,
    port: u16,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// aiosmtpd saving every message it accepts into the Maildir `dir`.
fn start_smtp(dir: &Path) -> SmtpServer {
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the SMTP test server");
    let mut server = SmtpServer { child, port };
    wait_for_child_port("aiosmtpd", &mut server.child, port);
    server
}

fn email(id: &str) -> OutgoingEmail {
    OutgoingEmail {
        message_id: format!("<{id}@agora.test>"),
        from: None,
        to: vec!["Ada Lovelace <ada@example.com>".parse().unwrap()],
        cc: vec!["bob@example.com".parse().unwrap()],
        bcc: vec![],
        subject: "Your order shipped".into(),
        text: Some("It is on its way.".into()),
        html: None,
        attachments: Vec::new(),
        hand_over: None,
    }
}

fn smtp_settings(db: &TestDb, port: u16) -> agora::Settings {
    let mut s = test_settings(db);
    s.mailer.transport = MailTransport::Smtp;
    s.mailer.smtp.host = "127.0.0.1".into();
    s.mailer.smtp.port = port;
    s.mailer.smtp.tls = SmtpTls::None;
    s.mailer.smtp.timeout_secs = 5;
    s
}

#[tokio::test]
async fn smtp_transport_delivers_to_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    // aiosmtpd creates the Maildir only if the directory does not exist yet.
    let maildir = dir.path().join("maildir");
    let server = start_smtp(&maildir);
    let db = TestDb::sqlite();
    let settings = smtp_settings(&db, server.port);
    let mailer = mailer::from_settings(&settings.mailer, &settings.data_dir).unwrap();
    assert_eq!(mailer.transport(), "smtp");

    let id = uuid::Uuid::now_v7().to_string();
    let sent = mailer.send(&email(&id)).await.unwrap();
    assert!(sent.response.starts_with("250"), "{}", sent.response);

    let new = maildir.join("new");
    let stored: Vec<String> = std::fs::read_dir(&new)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(stored.len(), 1);
    let message = &stored[0];
    assert!(
        message.contains(&format!("Message-ID: <{id}@agora.test>")),
        "{message}"
    );
    assert!(message.contains("Subject: Your order shipped"), "{message}");
    assert!(message.contains("It is on its way."), "{message}");
    assert!(
        message.contains("From: Agora <no-reply@localhost>"),
        "{message}"
    );
}

/// The hand-over comes once per email, while the relay has not yet got the whole message, and
/// the connection stays for the next email.
#[tokio::test]
async fn the_hand_over_comes_right_before_the_relay_has_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let server = start_smtp(&maildir);
    let db = TestDb::sqlite();
    let settings = smtp_settings(&db, server.port);
    let mailer = mailer::from_settings(&settings.mailer, &settings.data_dir).unwrap();
    let new = maildir.join("new");
    let stored = move || std::fs::read_dir(&new).map_or(0, |d| d.count());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for n in 0..3 {
        let mut email = email(&format!("hand-over-{n}"));
        let (seen, count) = (seen.clone(), stored.clone());
        email.hand_over = Some(HandOver::new(move || {
            seen.lock().unwrap().push(count());
            Ok(())
        }));
        mailer.send(&email).await.unwrap();
        assert_eq!(stored(), n + 1);
    }
    // At each hand-over the relay held only the emails before it.
    assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2]);

    // A hand-over that cannot be recorded keeps the email from going.
    let mut email = email("not-recorded");
    email.hand_over = Some(HandOver::new(|| Err(std::io::Error::other("disk full"))));
    let err = mailer.send(&email).await.unwrap_err();
    assert!(matches!(err, MailError::Transient(_)), "{err:?}");
    assert_eq!(stored(), 3);
}

/// `tls = "starttls"` against a relay that offers no STARTTLS: refused before anything is
/// sent in the clear, and said why.
#[tokio::test]
async fn starttls_is_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_smtp(&dir.path().join("maildir"));
    let db = TestDb::sqlite();
    let mut settings = smtp_settings(&db, server.port);
    settings.mailer.smtp.tls = SmtpTls::Starttls;
    let mailer = mailer::from_settings(&settings.mailer, &settings.data_dir).unwrap();
    let err = mailer.send(&email("cleartext")).await.unwrap_err();
    assert!(
        matches!(&err, MailError::Transient(m) if m.contains("does not offer STARTTLS")),
        "{err:?}"
    );
}

#[tokio::test]
async fn unreachable_relay_is_a_transient_failure() {
    let db = TestDb::sqlite();
    let settings = smtp_settings(&db, free_port());
    let mailer = mailer::from_settings(&settings.mailer, &settings.data_dir).unwrap();
    let err = mailer.send(&email("unreachable")).await.unwrap_err();
    assert!(matches!(err, MailError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn file_transport_is_the_default_and_writes_into_the_data_dir() {
    let db = TestDb::sqlite();
    let settings = test_settings(&db);
    let mailer = mailer::from_settings(&settings.mailer, &settings.data_dir).unwrap();
    assert_eq!(mailer.transport(), "file");
    let sent = mailer.send(&email("to-file")).await.unwrap();
    assert!(sent
        .response
        .starts_with(settings.data_dir.join("outbox").to_str().unwrap()));
    let eml = std::fs::read_to_string(&sent.response).unwrap();
    assert!(eml.contains("Message-ID: <to-file@agora.test>"));
}
