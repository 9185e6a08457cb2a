//! A client of a node's operator API (`autopilot node --http`), for the operator
//! commands (`autopilot state`, `health`, `config`, `policy`, `record`): one HTTP/1.1
//! request per connection, on hyper, with a deadline and an optional bearer token.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use thiserror::Error;
use tokio::net::TcpStream;

/// Why a request got no answer.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The node could not be reached.
    #[error("cannot reach {address}: {source}")]
    Connect {
        /// The API's address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("the request to {address} failed: {message}")]
    Http {
        /// The API's address.
        address: String,
        /// What failed.
        message: String,
    },
    /// No answer within the deadline.
    #[error("{address} did not answer within {timeout:?}")]
    Timeout {
        /// The API's address.
        address: String,
        /// The deadline.
        timeout: Duration,
    },
}

/// A node's answer: its status, the node that answered (`X-Autopilot-Leader`), and
/// the body.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// The HTTP status.
    pub status: u16,
    /// The leader that answered, when the node says.
    pub leader: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// The body as JSON.
    ///
    /// # Errors
    /// When it is not JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Error` a refusal carries (`{"Error": "..."}`), else the body as text.
    pub fn error_message(&self) -> String {
        self.json()
            .ok()
            .and_then(|v| v.get("Error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| self.text())
    }
}

/// Where a node's API is, and the token for writes.
#[derive(Debug, Clone)]
pub struct ApiClient {
    address: String,
    token: Option<String>,
    timeout: Duration,
}

impl ApiClient {
    /// A client of the API at `address` (`host:port`), sending `token` (if any) as a
    /// bearer token, waiting at most `timeout` for each answer.
    pub fn new(address: impl Into<String>, token: Option<String>, timeout: Duration) -> Self {
        Self {
            address: address.into(),
            token,
            timeout,
        }
    }

    /// The API's address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `GET path` (with its query).
    ///
    /// # Errors
    /// As [`ApiClient::request`].
    pub async fn get(&self, path: &str) -> Result<ApiResponse, ClientError> {
        self.request(Method::GET, path, Vec::new(), None).await
    }

    /// `PUT path` with `body` of `content_type`.
    ///
    /// # Errors
    /// As [`ApiClient::request`].
    pub async fn put(
        &self,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<ApiResponse, ClientError> {
        self.request(Method::PUT, path, body, Some(content_type))
            .await
    }

    /// One request on a new connection; any status is an answer.
    ///
    /// # Errors
    /// When the node cannot be reached, the exchange fails, or no answer comes within
    /// the deadline.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<ApiResponse, ClientError> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.address);
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let request =
            request
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| ClientError::Http {
                    address: self.address.clone(),
                    message: e.to_string(),
                })?;
        tokio::time::timeout(self.timeout, self.exchange(request))
            .await
            .map_err(|_| ClientError::Timeout {
                address: self.address.clone(),
                timeout: self.timeout,
            })?
    }

    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<ApiResponse, ClientError> {
        let http = |e: &dyn std::fmt::Display| ClientError::Http {
            address: self.address.clone(),
            message: e.to_string(),
        };
        let stream =
            TcpStream::connect(&self.address)
                .await
                .map_err(|source| ClientError::Connect {
                    address: self.address.clone(),
                    source,
                })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| http(&e))?;
        // The connection is driven beside the request and ends with it.
        let driver = tokio::spawn(connection);
        let response = sender.send_request(request).await.map_err(|e| http(&e))?;
        let status = response.status().as_u16();
        let leader = response
            .headers()
            .get("X-Autopilot-Leader")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| http(&e))?
            .to_bytes()
            .to_vec();
        driver.abort();
        Ok(ApiResponse {
            status,
            leader,
            body,
        })
    }
}
