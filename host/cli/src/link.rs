//! How nodes of one demo cluster talk: every connection proves knowledge of the
//! cluster key before anything else is read, then carries encrypted, authenticated
//! frames. Without a key (development on loopback only) frames travel in the clear.
//!
//! The handshake is Noise `NNpsk0` (25519, ChaChaPoly, BLAKE2s) through the `snow`
//! crate: a pre-shared key fits a cluster of equals better than a CA and a certificate
//! per node (nothing to issue, rotate or pin beyond one file, 0600, on every node), and
//! Noise is a small, analysed protocol with a well-kept implementation, where a
//! home-made challenge-response would need its own review. The first message already
//! depends on the key, so a peer without it is refused at the first 2 + 48 bytes,
//! before any request is read, let alone decoded.
//!
//! Wire format: each side first sends a 4-byte preface naming its mode (`APK1` keyed,
//! `APP1` plain), so a mismatch is reported clearly on both sides. Keyed: Noise
//! messages of at most 65,535 bytes, each behind a 2-byte big-endian length; a frame is
//! one message holding its 4-byte length, then its bytes in messages of at most
//! 65,519 bytes. Plain: a 4-byte big-endian length, then the bytes. Either way a frame
//! is read as its bytes arrive (a peer's announced length reserves nothing) and is at
//! most [`MAX_FRAME`].

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use snow::{HandshakeState, TransportState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::netfaults::{Fate, FaultyLink, lost};

/// Largest frame accepted from an authenticated peer: a policy component at the
/// plugin host's 64 MiB limit travels as base64 (86 MiB) in one swap request or
/// component transfer, with room for the JSON around it. Read as the bytes arrive, so only a
/// peer holding the cluster key can make a node hold that much.
pub const MAX_FRAME: usize = 96 << 20;

/// How long a peer has to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

const NOISE: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";
const PROLOGUE: &[u8] = b"autopilot-demo cluster link 1";
const KEYED: &[u8; 4] = b"APK1";
const PLAIN: &[u8; 4] = b"APP1";
const NOISE_MAX: usize = 65_535;
const TAG: usize = 16;
const CHUNK: usize = NOISE_MAX - TAG;

/// The cluster's shared secret: 32 bytes, kept in a file as 64 hex digits.
#[derive(Clone)]
pub struct ClusterKey([u8; 32]);

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

impl ClusterKey {
    /// A new random key.
    ///
    /// # Errors
    /// When the system has no randomness to give.
    pub fn generate() -> io::Result<Self> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
        Ok(Self(key))
    }

    /// Writes the key to a new file (it must not exist), readable by this user only.
    ///
    /// # Errors
    /// When the file exists or cannot be written.
    pub fn write_new(&self, path: &Path) -> io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let text: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        std::io::Write::write_all(&mut options.open(path)?, format!("{text}\n").as_bytes())
    }

    /// Reads a key file: 64 hex digits (surrounding whitespace ignored). On Unix the
    /// file must not be readable or writable by group or others.
    ///
    /// # Errors
    /// A message naming the file and what is wrong with it.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = read_secret_file(path, "cluster key file")?;
        Self::from_hex(&text).ok_or_else(|| {
            format!(
                "cluster key file {}: not a key (expected 64 hex digits)",
                path.display()
            )
        })
    }

    fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(key))
    }
}

/// Reads a small secret file (at most 1 KiB; surrounding whitespace trimmed). On Unix
/// the file must not be readable or writable by group or others.
///
/// # Errors
/// A message naming the file (as `what`) and what is wrong with it.
pub fn read_secret_file(path: &Path, what: &str) -> Result<String, String> {
    let fail = |e: &dyn fmt::Display| format!("{what} {}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| fail(&e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(fail(&format!(
                "open to group or others (mode {mode:03o}; `chmod 600` it)"
            )));
        }
    }
    if meta.len() > 1024 {
        return Err(fail(&"too long for a secret (over 1 KiB)"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(fail(&"empty"));
    }
    Ok(text.to_owned())
}

/// How this node talks to its peers: with the cluster key, or in the clear.
#[derive(Debug, Clone)]
pub enum Link {
    /// Every connection authenticated and encrypted with the cluster key.
    Keyed(ClusterKey),
    /// No authentication: any peer that reaches the port is trusted. For development
    /// on a private network (`--insecure-dev`) only.
    Insecure,
    /// Another link whose requests meet injected network faults (fault-injection
    /// runs only: see [`crate::netfaults`]).
    Faulty(Arc<FaultyLink>),
}

/// Why a connection was refused or failed.
fn refused(text: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, text)
}

fn noise_error(e: snow::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("noise: {e}"))
}

impl Link {
    fn preface(&self) -> &'static [u8; 4] {
        match self {
            Self::Keyed(_) => KEYED,
            Self::Insecure => PLAIN,
            Self::Faulty(f) => f.link.preface(),
        }
    }

    fn builder(key: &ClusterKey) -> Result<snow::Builder<'_>, snow::Error> {
        let params: snow::params::NoiseParams = NOISE.parse()?;
        snow::Builder::new(params)
            .prologue(PROLOGUE)?
            .psk(0, &key.0)
    }

    /// Opens a connection to `address` and, keyed, proves this node holds the key.
    ///
    /// # Errors
    /// I/O failures, and [`io::ErrorKind::PermissionDenied`] with a message when the
    /// peer refuses this node's key or runs in the other mode.
    pub async fn connect(&self, address: &str) -> io::Result<Conn> {
        if let Self::Faulty(f) = self {
            return Box::pin(f.link.connect(address)).await;
        }
        let mut stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        stream.write_all(self.preface()).await?;
        let theirs = read_preface(&mut stream).await?;
        self.check_preface(&theirs, address)?;
        let Self::Keyed(key) = self else {
            return Ok(Conn::plain(stream));
        };
        let mut noise = Self::builder(key)
            .and_then(snow::Builder::build_initiator)
            .map_err(noise_error)?;
        let mut buf = vec![0u8; NOISE_MAX];
        let n = noise.write_message(&[], &mut buf).map_err(noise_error)?;
        write_noise(&mut stream, &buf[..n]).await?;
        let message = read_noise(&mut stream).await?;
        if message.is_empty() {
            return Err(refused(format!(
                "{address} refused this node: the cluster key does not match"
            )));
        }
        noise
            .read_message(&message, &mut buf)
            .map_err(|_| refused(format!("{address} failed the handshake")))?;
        Conn::keyed(stream, noise)
    }

    /// Authenticates a connection this node accepted. A peer without the key is
    /// told so and refused before anything it sends is read as a request.
    ///
    /// # Errors
    /// [`io::ErrorKind::PermissionDenied`] naming why the peer was refused, or the
    /// I/O failure.
    pub async fn accept(&self, mut stream: TcpStream) -> io::Result<Conn> {
        if let Self::Faulty(f) = self {
            return Box::pin(f.link.accept(stream)).await;
        }
        stream.set_nodelay(true)?;
        let theirs = read_preface(&mut stream).await?;
        stream.write_all(self.preface()).await?;
        self.check_preface(&theirs, "the peer")?;
        let Self::Keyed(key) = self else {
            return Ok(Conn::plain(stream));
        };
        let mut noise = Self::builder(key)
            .and_then(snow::Builder::build_responder)
            .map_err(noise_error)?;
        let message = read_noise(&mut stream).await?;
        let mut buf = vec![0u8; NOISE_MAX];
        if noise.read_message(&message, &mut buf).is_err() {
            // An empty message tells the peer its key is wrong; nothing else is read.
            let _ = write_noise(&mut stream, &[]).await;
            return Err(refused("the peer's cluster key does not match".into()));
        }
        let n = noise.write_message(&[], &mut buf).map_err(noise_error)?;
        write_noise(&mut stream, &buf[..n]).await?;
        Conn::keyed(stream, noise)
    }

    fn check_preface(&self, theirs: &[u8; 4], peer: &str) -> io::Result<()> {
        if let Self::Faulty(f) = self {
            return f.link.check_preface(theirs, peer);
        }
        if theirs == self.preface() {
            return Ok(());
        }
        Err(refused(match (theirs, self) {
            (t, Self::Insecure) if t == KEYED => {
                format!("{peer} requires a cluster key; this node has none (--cluster-key-file)")
            }
            (t, Self::Keyed(_)) if t == PLAIN => {
                format!("{peer} has no cluster key; this node requires one")
            }
            _ => format!("{peer} does not speak this cluster's protocol"),
        }))
    }

    /// Sends one request and waits for the reply, within `timeout`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect), [`Conn::send`] and [`Conn::recv`], and
    /// [`io::ErrorKind::TimedOut`].
    pub async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        address: &str,
        request: &Q,
        timeout: Duration,
    ) -> io::Result<A> {
        if let Self::Faulty(f) = self {
            return f.call(address, request, timeout, false).await;
        }
        tokio::time::timeout(timeout, async {
            let mut conn = self.connect(address).await?;
            conn.send(request).await?;
            conn.recv().await
        })
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{address} did not answer in time"),
            )
        })?
    }
}

impl FaultyLink {
    /// [`Link::call`] through the faults: delayed, then lost, delivered with its
    /// reply lost, delivered twice (only if `duplicable`: a request a protocol must
    /// expect again, as Raft's are; TCP itself never delivers one twice), or
    /// delivered.
    pub(crate) async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        address: &str,
        request: &Q,
        timeout: Duration,
        duplicable: bool,
    ) -> io::Result<A> {
        let (fate, delay) = self.faults.fate(&self.from, address);
        let late = || {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{address} did not answer in time"),
            )
        };
        if delay >= timeout {
            tokio::time::sleep(timeout).await;
            return Err(late());
        }
        tokio::time::sleep(delay).await;
        let left = timeout - delay;
        match fate {
            Fate::Lost => Err(lost(address, false)),
            Fate::ReplyLost => {
                Box::pin(self.link.call::<Q, A>(address, request, left)).await?;
                Err(lost(address, true))
            }
            Fate::Duplicated if duplicable => {
                let _ = Box::pin(self.link.call::<Q, A>(address, request, left)).await;
                Box::pin(self.link.call(address, request, left)).await
            }
            Fate::Duplicated | Fate::Delivered => {
                Box::pin(self.link.call(address, request, left)).await
            }
        }
    }
}

/// An open connection: framed, and encrypted when keyed.
pub struct Conn {
    stream: TcpStream,
    noise: Option<Box<TransportState>>,
    buf: Vec<u8>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("keyed", &self.noise.is_some())
            .finish_non_exhaustive()
    }
}

impl Conn {
    fn plain(stream: TcpStream) -> Self {
        Self {
            stream,
            noise: None,
            buf: Vec::new(),
        }
    }

    fn keyed(stream: TcpStream, noise: HandshakeState) -> io::Result<Self> {
        Ok(Self {
            stream,
            noise: Some(Box::new(noise.into_transport_mode().map_err(noise_error)?)),
            buf: vec![0u8; NOISE_MAX],
        })
    }

    /// Sends one message (JSON).
    ///
    /// # Errors
    /// Encoding and I/O failures; a message above [`MAX_FRAME`].
    pub async fn send<T: Serialize>(&mut self, message: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec(message).map_err(io::Error::other)?;
        if bytes.len() > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "message too large",
            ));
        }
        let len = u32::try_from(bytes.len()).map_err(io::Error::other)?;
        match self.noise.as_mut() {
            None => {
                self.stream.write_all(&len.to_be_bytes()).await?;
                self.stream.write_all(&bytes).await?;
            }
            Some(noise) => {
                let n = noise
                    .write_message(&len.to_be_bytes(), &mut self.buf)
                    .map_err(noise_error)?;
                write_noise(&mut self.stream, &self.buf[..n]).await?;
                for chunk in bytes.chunks(CHUNK) {
                    let n = noise
                        .write_message(chunk, &mut self.buf)
                        .map_err(noise_error)?;
                    write_noise(&mut self.stream, &self.buf[..n]).await?;
                }
            }
        }
        self.stream.flush().await
    }

    /// Receives one message (JSON), read as its bytes arrive.
    ///
    /// # Errors
    /// I/O failures, a frame above [`MAX_FRAME`], a message that fails
    /// authentication, or JSON that does not decode.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> io::Result<T> {
        let bytes = match self.noise.as_mut() {
            None => {
                let mut len = [0u8; 4];
                self.stream.read_exact(&mut len).await?;
                let len = frame_len(len)?;
                let mut bytes = Vec::new();
                (&mut self.stream)
                    .take(len as u64)
                    .read_to_end(&mut bytes)
                    .await?;
                if bytes.len() != len {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                bytes
            }
            Some(noise) => {
                let message = read_noise(&mut self.stream).await?;
                let n = noise
                    .read_message(&message, &mut self.buf)
                    .map_err(noise_error)?;
                let header: [u8; 4] = self.buf[..n]
                    .try_into()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad frame header"))?;
                let len = frame_len(header)?;
                let mut bytes = Vec::new();
                while bytes.len() < len {
                    let message = read_noise(&mut self.stream).await?;
                    let n = noise
                        .read_message(&message, &mut self.buf)
                        .map_err(noise_error)?;
                    if n == 0 || bytes.len() + n > len {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "frame longer than announced",
                        ));
                    }
                    bytes.extend_from_slice(&self.buf[..n]);
                }
                bytes
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

fn frame_len(header: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes announced (at most {MAX_FRAME})"),
        ));
    }
    Ok(len)
}

async fn read_preface(stream: &mut TcpStream) -> io::Result<[u8; 4]> {
    let mut preface = [0u8; 4];
    stream.read_exact(&mut preface).await?;
    Ok(preface)
}

async fn write_noise(stream: &mut TcpStream, message: &[u8]) -> io::Result<()> {
    let len = u16::try_from(message.len()).map_err(io::Error::other)?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(message).await?;
    stream.flush().await
}

async fn read_noise(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut message).await?;
    Ok(message)
}
