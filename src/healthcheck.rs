//! `agora healthcheck`: one plain HTTP/1.0 GET on the loopback, so a container image needs no
//! curl or wget for its `HEALTHCHECK`. Only `http://host[:port]/path` is understood: the
//! probe runs beside the server, never through TLS.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

/// The status code `url` answers within `timeout`.
pub fn probe(url: &str, timeout: Duration) -> anyhow::Result<u16> {
    let (authority, path) = split(url)?;
    let address = authority
        .to_socket_addrs()
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .ok_or_else(|| anyhow!("{authority} has no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("connecting to {authority}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: agora-healthcheck\r\n\r\n"
    )?;
    // The status line fits in the first read; the body is not needed.
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).context("reading the answer")?;
    status_of(&head[..read])
}

/// `/readyz` of a server listening on `host:port`: on the loopback when it listens on every
/// address.
pub fn readyz_url(host: &str, port: u16) -> String {
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        v6 if v6.contains(':') && !v6.starts_with('[') => format!("[{v6}]"),
        other => other.to_string(),
    };
    format!("http://{host}:{port}/readyz")
}

fn split(url: &str) -> anyhow::Result<(String, &str)> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("{url}: only http:// URLs can be probed");
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        bail!("{url}: no host");
    }
    let has_port = !authority.ends_with(']')
        && authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    let authority = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path))
}

fn status_of(head: &[u8]) -> anyhow::Result<u16> {
    let line = String::from_utf8_lossy(head);
    line.strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            anyhow!(
                "not an HTTP answer: {:?}",
                line.lines().next().unwrap_or("")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls_and_reads_status_lines() {
        assert_eq!(
            split("http://127.0.0.1:8080/readyz").unwrap(),
            ("127.0.0.1:8080".to_string(), "/readyz")
        );
        assert_eq!(
            split("http://localhost").unwrap(),
            ("localhost:80".to_string(), "/")
        );
        assert!(split("https://example.com/").is_err());
        assert_eq!(
            split("http://[::1]/readyz").unwrap(),
            ("[::1]:80".to_string(), "/readyz")
        );
        assert_eq!(readyz_url("0.0.0.0", 8080), "http://127.0.0.1:8080/readyz");
        assert_eq!(readyz_url("::", 80), "http://[::1]:80/readyz");
        assert_eq!(readyz_url("10.0.0.5", 9000), "http://10.0.0.5:9000/readyz");
        assert_eq!(
            status_of(b"HTTP/1.1 503 Service Unavailable\r\n").unwrap(),
            503
        );
        assert_eq!(status_of(b"HTTP/1.0 200 OK\r\n").unwrap(), 200);
        assert!(status_of(b"SSH-2.0-OpenSSH").is_err());
    }
}
