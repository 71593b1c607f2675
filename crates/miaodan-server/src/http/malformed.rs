//! Requests too broken for the router: hyper refuses a request line or header it cannot parse
//! (a control character in a header value, a bad method, an over-long target or head) before
//! any handler sees it, and answers with a bare status and no body. The accept loop
//! (`listener.rs`) wraps each connection so that such an answer leaves as problem+json like every other refusal.
//!
//! hyper sends that answer as the last thing on the connection (it closes it afterwards), in one
//! write, as a head with `content-length: 0` and no `content-type`; no answer of ours looks like
//! that (every refusal of ours has a problem body). The connection reports writes as unvectored,
//! so hyper hands it each answer flattened into one buffer, which is what is recognised here.

use super::problem::ApiError;
use axum::http::StatusCode;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose bare parse-error answer is replaced by a problem.
pub struct ProblemIo<IO> {
    io: IO,
    replacement: Option<Replacement>,
}

impl<IO> ProblemIo<IO> {
    /// Wraps a connection as it is accepted, before hyper reads from it.
    pub fn new(io: IO) -> ProblemIo<IO> {
        ProblemIo { io, replacement: None }
    }
}

/// The problem being written in place of hyper's answer, and how long that answer was (what
/// hyper is told was written once the problem is out).
struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    claimed: usize,
}

/// The problem+json answer for hyper's bare answer `head`, if `head` is one.
pub fn problem_for(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let (status, code, detail) = if text.starts_with("HTTP/1.1 400 ") {
        (
            StatusCode::BAD_REQUEST,
            "malformed_request",
            "the request line or a header is not valid HTTP/1.1 (for example a control character in a header value)",
        )
    } else if text.starts_with("HTTP/1.1 414 ") {
        (
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            "the request target is too long",
        )
    } else if text.starts_with("HTTP/1.1 431 ") {
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "the request's headers are too large",
        )
    } else {
        return None;
    };
    let empty = "\r\ncontent-length: 0\r\n";
    let bare =
        text.ends_with("\r\n\r\n") && text.contains(empty) && !text.to_ascii_lowercase().contains("content-type:");
    if !bare {
        return None;
    }
    let body = ApiError::new(status, code, detail).body();
    let typed = format!(
        "\r\ncontent-type: {}\r\ncontent-length: {}\r\n",
        super::problem::PROBLEM_CONTENT_TYPE,
        body.len()
    );
    Some([text.replacen(empty, &typed, 1).as_bytes(), body.as_bytes()].concat())
}

impl<IO: AsyncRead + Unpin> AsyncRead for ProblemIo<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ProblemIo<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacement.is_none() {
            match problem_for(buf) {
                Some(bytes) => {
                    this.replacement = Some(Replacement {
                        bytes,
                        written: 0,
                        claimed: buf.len(),
                    })
                }
                None => return Pin::new(&mut this.io).poll_write(cx, buf),
            }
        }
        // hyper repeats the same write until it is told it went out.
        let Some(replacement) = this.replacement.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while replacement.written < replacement.bytes.len() {
            let n = ready!(Pin::new(&mut this.io).poll_write(cx, &replacement.bytes[replacement.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            replacement.written += n;
        }
        let claimed = replacement.claimed;
        this.replacement = None;
        Poll::Ready(Ok(claimed))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    /// Unvectored: hyper then flattens each answer into one buffer for [`problem_for`].
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::problem_for;

    #[test]
    fn only_hypers_bare_answers_become_problems() {
        let bare = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let problem = String::from_utf8(problem_for(bare).unwrap()).unwrap();
        assert!(problem.starts_with("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n"));
        assert!(problem.contains("\r\ncontent-type: application/problem+json\r\n"));
        assert!(problem.ends_with("\"code\":\"malformed_request\",\"detail\":\"the request line or a header is not valid HTTP/1.1 (for example a control character in a header value)\"}"));
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n";
        assert!(problem_for(ours).is_none());
        assert!(problem_for(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(problem_for(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}").is_none());
    }
}
