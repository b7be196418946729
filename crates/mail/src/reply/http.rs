//! A minimal HTTP/1.1 client for one JSON POST per connection (`Connection: close`), over
//! tokio and, for `https`, tokio-rustls with the platform's roots (the stack the SMTP and IMAP
//! adapters already use). Written here rather than pulling a full HTTP client in for one request
//! kind; it supports what chat-completions endpoints answer with: `Content-Length`, chunked, or
//! a body that ends with the connection.

use std::net::SocketAddr;
use std::time::Duration;

use mail_send::smtp::tls::build_tls_connector;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response body read.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL: {0}")]
    Url(String),
    #[error("connection failed: {0}")]
    Io(String),
    #[error("timed out")]
    Timeout,
    #[error("malformed response: {0}")]
    Response(String),
}

/// A parsed `http(s)://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Starts with `/`; no trailing `/` unless it is the root.
    pub path: String,
}

impl Url {
    /// Parses an absolute http or https URL (no user info, no IPv6 literals).
    ///
    /// # Errors
    /// [`HttpError::Url`].
    pub fn parse(url: &str) -> Result<Self, HttpError> {
        let bad = || HttpError::Url("expected http://host[:port][/path]".to_owned());
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let (authority, path) = rest
            .find(['/', '?'])
            .map_or((rest, "/"), |i| rest.split_at(i));
        if authority.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
            None => (authority, if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(bad());
        }
        // `http://host?q` asks for `/?q`.
        let query_only = path.starts_with('?').then(|| format!("/{path}"));
        let path = query_only.as_deref().unwrap_or(path).trim_end_matches('/');
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            path: if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            },
        })
    }
}

/// A response: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// POSTs `body` as `application/json` to `url` with the extra `headers`, within `timeout`.
///
/// # Errors
/// [`HttpError`]; a non-2xx status is a [`Response`], not an error.
pub async fn post_json(
    url: &Url,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, HttpError> {
    post_json_at(url, None, headers, body, timeout).await
}

/// [`post_json`] connecting to `addr` (an address the caller resolved and checked) instead of
/// resolving the URL's host again; the host still names the server (`Host`, TLS SNI).
///
/// # Errors
/// [`HttpError`]; a non-2xx status is a [`Response`], not an error.
pub async fn post_json_at(
    url: &Url,
    addr: Option<SocketAddr>,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, HttpError> {
    tokio::time::timeout(timeout, post(url, addr, headers, body))
        .await
        .map_err(|_| HttpError::Timeout)?
}

async fn post(
    url: &Url,
    addr: Option<SocketAddr>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, HttpError> {
    let io = |e: std::io::Error| HttpError::Io(e.to_string());
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: reachkit\r\n",
        url.path,
        url.host,
        body.len()
    );
    for (name, value) in headers {
        if name.contains(['\r', '\n']) || value.contains(['\r', '\n']) {
            return Err(HttpError::Url("header with a line break".to_owned()));
        }
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    let tcp = match addr {
        Some(addr) => TcpStream::connect(addr).await,
        None => TcpStream::connect((url.host.as_str(), url.port)).await,
    }
    .map_err(io)?;
    let raw = if url.tls {
        let name = ServerName::try_from(url.host.clone())
            .map_err(|_| HttpError::Url("invalid TLS server name".to_owned()))?;
        let tls = build_tls_connector(false)
            .map_err(HttpError::Io)?
            .connect(name, tcp)
            .await
            .map_err(io)?;
        exchange(tls, &bytes).await?
    } else {
        exchange(tcp, &bytes).await?
    };
    parse_response(&raw)
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
) -> Result<Vec<u8>, HttpError> {
    let io = |e: std::io::Error| HttpError::Io(e.to_string());
    stream.write_all(request).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut raw = Vec::new();
    let mut limited = (&mut stream).take((MAX_RESPONSE_BYTES + 64 * 1024) as u64);
    // Servers that close without a TLS close_notify make read_to_end fail at the very end; what
    // was read is still complete when the framing says so (checked by parse_response).
    if let Err(e) = limited.read_to_end(&mut raw).await
        && raw.is_empty()
    {
        return Err(io(e));
    }
    Ok(raw)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a whole HTTP/1.1 response (status line, headers, body framed by Content-Length,
/// chunked encoding or the end of the connection).
///
/// # Errors
/// [`HttpError::Response`].
pub fn parse_response(raw: &[u8]) -> Result<Response, HttpError> {
    let bad = |what: &str| HttpError::Response(what.to_owned());
    let head_end = find(raw, b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| bad("headers not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| bad("bad status line"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| bad("bad content-length"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let rest = &raw[head_end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or_else(|| bad("body shorter than content-length"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(bad("body too large"));
    }
    Ok(Response { status, body })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, HttpError> {
    let bad = |what: &str| HttpError::Response(what.to_owned());
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").ok_or_else(|| bad("truncated chunk size"))?;
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|_| bad("chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or_else(|| bad("truncated chunk"))?;
        body.extend_from_slice(chunk);
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(bad("body too large"));
        }
        rest = rest.get(size + 2..).ok_or_else(|| bad("truncated chunk"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports_and_paths() {
        let u = Url::parse("https://api.example.test/v1/").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (true, "api.example.test", 443, "/v1")
        );
        let u = Url::parse("http://h.test:81?k=v").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("h.test", 81, "/?k=v")
        );
        let u = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (false, 8080, "/"));
        for bad in [
            "ftp://x",
            "http://",
            "http://:80",
            "http://h:x",
            "https://u:p@h/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses_are_framed_by_length_chunks_or_the_end() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"ok".as_slice()));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"abcde");
        let r = parse_response(b"HTTP/1.0 500 Oops\r\n\r\nall of it").unwrap();
        assert_eq!(
            (r.status, r.body.as_slice()),
            (500, b"all of it".as_slice())
        );
        for bad in [
            &b"garbage"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
            b"SMTP 220\r\n\r\n",
        ] {
            assert!(parse_response(bad).is_err());
        }
    }
}
