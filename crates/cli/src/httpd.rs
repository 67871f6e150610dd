//! The HTTP/1.1 file server of `synack serve --http`: GET and HEAD of the files under a
//! root directory (message syntax of RFC 9112, semantics of RFC 9110), with keep-alive
//! governed by nginx's two knobs: `keepalive_timeout` (how long an idle connection
//! waits for its next request; zero turns keep-alive off) and `keepalive_requests` (the
//! requests one connection serves before the server closes it).
//!
//! Like nginx, the server closes a connection it is done with by a lingering close: it
//! sends its FIN after the last response, then reads and discards what the client still
//! sends until the client closes, so that unread bytes never turn the close into a RST
//! that could destroy the response in flight.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::{timeout_at, Instant};

/// How the server treats connections.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The directory whose files are served.
    pub root: PathBuf,
    /// nginx's `keepalive_timeout`: how long an idle keep-alive connection waits for the
    /// next request; zero disables keep-alive.
    pub keepalive_timeout: Duration,
    /// nginx's `keepalive_requests`: the requests served on one connection, the last of
    /// which is answered with `Connection: close`.
    pub keepalive_requests: u64,
}

/// nginx's `client_header_timeout`: the time a request's head may take to arrive.
const HEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest request head (nginx's `large_client_header_buffers`, 4 x 8k).
const MAX_HEAD: usize = 32 * 1024;
/// The most header fields in a request.
const MAX_FIELDS: usize = 100;
/// nginx's `lingering_timeout` and `lingering_time`.
const LINGER_IDLE: Duration = Duration::from_secs(5);
const LINGER_TOTAL: Duration = Duration::from_secs(30);
/// Files up to this size go out with the response head in one write.
const SMALL_FILE: u64 = 64 * 1024;

/// A request's head, as far as the server needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    head_only: bool,
    target: String,
    /// The client asks to keep the connection (by its version and `Connection`).
    keep_alive: bool,
    /// The body's length (`Content-Length`), to be read and discarded.
    body: u64,
}

/// What reading a request's head gave.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// A request (or the status to refuse it with), and the head's length.
    Complete(Result<Request, u16>, usize),
    /// The client closed, or an idle keep-alive connection timed out: close quietly.
    Closed,
    /// The head did not arrive in time (408).
    TimedOut,
}

/// Serves one connection until either side closes it.
pub async fn serve_connection<S>(mut io: S, cfg: &HttpConfig) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut served: u64 = 0;
    loop {
        let (parsed, len) = match read_head(&mut io, &mut buf, served > 0, cfg).await? {
            Head::Complete(parsed, len) => (parsed, len),
            Head::Closed => return Ok(()),
            Head::TimedOut => {
                error_response(&mut io, 408, false).await?;
                return lingering_close(io).await;
            }
        };
        buf.drain(..len);
        served += 1;
        let req = match parsed {
            Ok(req) => req,
            Err(status) => {
                error_response(&mut io, status, false).await?;
                return lingering_close(io).await;
            }
        };
        discard_body(&mut io, &mut buf, req.body).await?;
        let keep =
            req.keep_alive && !cfg.keepalive_timeout.is_zero() && served < cfg.keepalive_requests;
        if !respond(&mut io, &req, keep, &cfg.root).await? {
            return lingering_close(io).await;
        }
    }
}

/// Reads until `buf` holds a whole request head. The first byte of a request after the
/// first must come within the keep-alive timeout, the whole head within the header
/// timeout of its first byte.
async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    idle: bool,
    cfg: &HttpConfig,
) -> io::Result<Head> {
    let mut deadline = Instant::now()
        + if idle && buf.is_empty() {
            cfg.keepalive_timeout
        } else {
            HEADER_TIMEOUT
        };
    loop {
        if !buf.is_empty() {
            if let Some(head) = parse_head(buf) {
                return Ok(head);
            }
            if buf.len() > MAX_HEAD {
                return Ok(Head::Complete(Err(431), buf.len()));
            }
        }
        let was_empty = buf.is_empty();
        let mut chunk = [0u8; 4096];
        let n = match timeout_at(deadline, io.read(&mut chunk)).await {
            Err(_) if was_empty => return Ok(Head::Closed),
            Err(_) => return Ok(Head::TimedOut),
            Ok(Err(e)) if was_empty && e.kind() == io::ErrorKind::ConnectionReset => {
                return Ok(Head::Closed)
            }
            Ok(r) => r?,
        };
        if n == 0 {
            return Ok(Head::Closed);
        }
        if was_empty {
            deadline = Instant::now() + HEADER_TIMEOUT;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Parses the head at the start of `buf`: `None` while it is incomplete.
fn parse_head(buf: &[u8]) -> Option<Head> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Partial) => return None,
        Ok(httparse::Status::Complete(len)) => len,
        Err(httparse::Error::Version) => return Some(Head::Complete(Err(505), buf.len())),
        Err(httparse::Error::TooManyHeaders) => return Some(Head::Complete(Err(431), buf.len())),
        Err(_) => return Some(Head::Complete(Err(400), buf.len())),
    };
    Some(Head::Complete(request(&req), len))
}

/// The request a parsed head makes, or the status that refuses it.
fn request(req: &httparse::Request<'_, '_>) -> Result<Request, u16> {
    let http11 = req.version == Some(1);
    let mut keep_alive = http11;
    let mut host = false;
    let mut body: Option<u64> = None;
    for f in req.headers.iter() {
        let value = std::str::from_utf8(f.value).map_err(|_| 400u16)?.trim();
        if f.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && !http11 {
                    keep_alive = true;
                }
            }
        } else if f.name.eq_ignore_ascii_case("host") {
            // RFC 9112 section 3.2: exactly one Host in an HTTP/1.1 request.
            if host {
                return Err(400);
            }
            host = true;
        } else if f.name.eq_ignore_ascii_case("content-length") {
            // RFC 9112 section 6.3: a length that is not one number is unrecoverable.
            let n: u64 = value.parse().map_err(|_| 400u16)?;
            if body.is_some_and(|b| b != n) {
                return Err(400);
            }
            body = Some(n);
        } else if f.name.eq_ignore_ascii_case("transfer-encoding") {
            // RFC 9112 section 6.1: a transfer coding the server does not implement.
            return Err(501);
        }
    }
    if http11 && !host {
        return Err(400);
    }
    let method = req.method.unwrap_or_default();
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(405),
    };
    Ok(Request {
        head_only,
        target: req.path.unwrap_or_default().to_string(),
        keep_alive,
        body: body.unwrap_or(0),
    })
}

/// Reads and drops a request body of `len` bytes (what `buf` holds first).
async fn discard_body<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    len: u64,
) -> io::Result<()> {
    let from_buf = (len.min(buf.len() as u64)) as usize;
    buf.drain(..from_buf);
    let rest = len - from_buf as u64;
    if rest > 0 {
        let copied = tokio::io::copy(&mut (&mut *io).take(rest), &mut tokio::io::sink()).await?;
        if copied < rest {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

/// What a request target names under the root.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// A regular file.
    File(PathBuf),
    /// A directory named without its trailing slash: redirect to this location.
    Redirect(String),
}

/// Resolves `target` (origin-form `/a/b?q`, or absolute-form `http://host/a/b`) under
/// `root`: percent-decoded, dot segments removed (RFC 3986 section 5.2.4) without ever
/// climbing above the root, a directory standing for its `index.html`.
fn resolve(root: &Path, target: &str) -> Result<Target, u16> {
    let path = match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return Err(400);
    }
    let decoded = percent_decode(path).ok_or(400u16)?;
    if decoded.contains(&0) {
        return Err(400);
    }
    let mut segments: Vec<&[u8]> = Vec::new();
    for seg in decoded.split(|b| *b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                segments.pop().ok_or(400u16)?;
            }
            s => segments.push(s),
        }
    }
    let mut file = root.to_path_buf();
    for s in &segments {
        file.push(OsStr::from_bytes(s));
    }
    let meta = std::fs::metadata(&file).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => 404u16,
        io::ErrorKind::PermissionDenied => 403,
        _ => 500,
    })?;
    if meta.is_dir() {
        if !decoded.ends_with(b"/") {
            return Ok(Target::Redirect(format!("{path}/")));
        }
        file.push("index.html");
        return match std::fs::metadata(&file) {
            Ok(m) if m.is_file() => Ok(Target::File(file)),
            // No listing of directories (nginx without autoindex).
            _ => Err(403),
        };
    }
    if !meta.is_file() {
        // Devices, pipes and sockets are not served.
        return Err(403);
    }
    if decoded.ends_with(b"/") {
        // A file named as a directory (ENOTDIR).
        return Err(404);
    }
    Ok(Target::File(file))
}

/// Decodes `%XX` escapes; `None` for a malformed one.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Answers `req`: the file's head, then (for GET) its bytes. Returns whether the
/// connection stays open (`keep`, unless the request was bad).
async fn respond<S: AsyncWrite + Unpin>(
    io: &mut S,
    req: &Request,
    keep: bool,
    root: &Path,
) -> io::Result<bool> {
    let path = match resolve(root, &req.target) {
        Ok(Target::File(path)) => path,
        Ok(Target::Redirect(location)) => {
            let body = error_body(301);
            let mut head = head_lines(301, keep, "text/html", body.len() as u64);
            head.push_str(&format!("Location: {location}\r\n\r\n"));
            let mut out = head.into_bytes();
            if !req.head_only {
                out.extend_from_slice(body.as_bytes());
            }
            return io.write_all(&out).await.map(|()| keep);
        }
        Err(status) => {
            // As nginx: a bad request or a server error ends the connection.
            let keep = keep && !matches!(status, 400 | 500);
            return error_response(io, status, keep).await.map(|()| keep);
        }
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return error_response(io, 403, keep).await.map(|()| keep)
        }
        Err(_) => return error_response(io, 404, keep).await.map(|()| keep),
    };
    let meta = file.metadata().await?;
    let len = meta.len();
    let mut head = head_lines(200, keep, content_type(&path), len);
    if let Ok(modified) = meta.modified() {
        head.push_str(&format!("Last-Modified: {}\r\n", http_date(modified)));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if req.head_only {
        return io.write_all(&out).await.map(|()| keep);
    }
    if len <= SMALL_FILE {
        let start = out.len();
        (&mut file).take(len).read_to_end(&mut out).await?;
        if (out.len() - start) as u64 != len {
            // The file changed under us: the length sent is wrong, close.
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        return io.write_all(&out).await.map(|()| keep);
    }
    io.write_all(&out).await?;
    let mut reader = BufReader::with_capacity(256 * 1024, file.take(len));
    let mut sent = 0u64;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            break;
        }
        io.write_all(chunk).await?;
        let n = chunk.len();
        sent += n as u64;
        reader.consume(n);
    }
    if sent != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(keep)
}

/// The status line and the fields every response has.
fn head_lines(status: u16, keep: bool, content_type: &str, len: u64) -> String {
    format!(
        "HTTP/1.1 {status} {}\r\nServer: synack\r\nDate: {}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {len}\r\nConnection: {}\r\n",
        reason(status),
        http_date(SystemTime::now()),
        if keep { "keep-alive" } else { "close" },
    )
}

/// An error response (with an Allow field for 405).
async fn error_response<S: AsyncWrite + Unpin>(
    io: &mut S,
    status: u16,
    keep: bool,
) -> io::Result<()> {
    let body = error_body(status);
    let mut head = head_lines(status, keep, "text/html", body.len() as u64);
    if status == 405 {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    head.push_str("\r\n");
    head.push_str(&body);
    io.write_all(head.as_bytes()).await
}

fn error_body(status: u16) -> String {
    let r = reason(status);
    format!(
        "<html><head><title>{status} {r}</title></head><body><h1>{status} {r}</h1></body></html>\n"
    )
}

/// The reason phrase of a status (RFC 9110 section 15).
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Internal Server Error",
    }
}

/// The media type of a file, by its extension.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(OsStr::to_str)
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html",
        Some("txt") => "text/plain",
        Some("css") => "text/css",
        Some("js") => "application/javascript",
        Some("json") => "application/json",
        Some("xml") => "text/xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("pdf") => "application/pdf",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// A time as an IMF-fixdate (RFC 9110 section 5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Half-closes, then reads and drops what the client still sends until it closes
/// (within the lingering times), then closes.
async fn lingering_close<S: AsyncRead + AsyncWrite + Unpin>(mut io: S) -> io::Result<()> {
    io.shutdown().await?;
    let end = Instant::now() + LINGER_TOTAL;
    let mut sink = [0u8; 4096];
    loop {
        let idle = (Instant::now() + LINGER_IDLE).min(end);
        match timeout_at(idle, io.read(&mut sink)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Ok(()),
            Ok(Ok(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests;
