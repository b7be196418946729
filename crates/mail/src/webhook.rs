//! The webhook poster: one signed JSON POST per delivery over the minimal HTTP client the LLM
//! classifier uses. The host is resolved here and, unless private targets are allowed, every
//! address that [`is_forbidden_ip`] names is dropped before connecting: a public name that
//! resolves to a loopback or private address is refused (request forgery into the host's
//! network), and the connection goes to the checked address, not to a second resolution.

use std::time::Duration;

use async_trait::async_trait;
use reachkit_core::webhooks::{PostResult, WebhookPoster, is_forbidden_ip, parse_target};

use crate::reply::http::{Url, post_json_at};

/// Posts webhook deliveries.
#[derive(Debug, Clone, Copy)]
pub struct HttpWebhookPoster {
    pub allow_private_targets: bool,
    pub timeout: Duration,
}

#[async_trait]
impl WebhookPoster for HttpWebhookPoster {
    async fn post(
        &self,
        url: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<PostResult, String> {
        let target = parse_target(url).map_err(|e| format!("url {e}"))?;
        let parsed = Url::parse(url).map_err(|e| e.to_string())?;
        let resolve = tokio::net::lookup_host((target.host.as_str(), target.port));
        let addrs: Vec<_> = tokio::time::timeout(self.timeout, resolve)
            .await
            .map_err(|_| "name resolution timed out".to_owned())?
            .map_err(|e| format!("name resolution failed: {e}"))?
            .collect();
        let Some(addr) = addrs
            .iter()
            .copied()
            .find(|a| self.allow_private_targets || !is_forbidden_ip(a.ip()))
        else {
            return Err(if addrs.is_empty() {
                "the host has no address".to_owned()
            } else {
                "the host resolves only to private or loopback addresses (refused)".to_owned()
            });
        };
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let response = post_json_at(&parsed, Some(addr), &headers, &body, self.timeout)
            .await
            .map_err(|e| e.to_string())?;
        Ok(PostResult {
            status_code: response.status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn one_shot_server(answer: &'static [u8]) -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 8192];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(answer).await.unwrap();
            buf.truncate(n);
            buf
        });
        (port, task)
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_without_connecting() {
        let poster = HttpWebhookPoster {
            allow_private_targets: false,
            timeout: Duration::from_secs(5),
        };
        let r = poster
            .post("http://localhost:9/hook", Vec::new(), b"{}".to_vec())
            .await;
        assert!(matches!(r, Err(e) if e.contains("refused")));
    }

    #[tokio::test]
    async fn an_allowed_private_target_gets_the_body_and_headers() {
        let (port, server) = one_shot_server(b"HTTP/1.1 204 No Content\r\n\r\n").await;
        let poster = HttpWebhookPoster {
            allow_private_targets: true,
            timeout: Duration::from_secs(5),
        };
        let r = poster
            .post(
                &format!("http://localhost:{port}/hook"),
                vec![("webhook-id".into(), "msg_1".into())],
                br#"{"a":1}"#.to_vec(),
            )
            .await;
        assert_eq!(r, Ok(PostResult { status_code: 204 }));
        let request = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(request.starts_with("POST /hook HTTP/1.1\r\n"));
        assert!(request.contains("webhook-id: msg_1\r\n"));
        assert!(request.ends_with(r#"{"a":1}"#));
    }
}
