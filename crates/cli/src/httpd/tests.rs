//! The file server over an in-memory pipe: requests, keep-alive by nginx's knobs,
//! paths that must not escape the root.

use super::*;
use tokio::io::DuplexStream;

/// A root with `a.txt` (5 bytes), `big.bin` (200,000 bytes), `dir/index.html` and an
/// empty `empty/` directory.
fn root() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "synack-httpd-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("dir")).unwrap();
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    std::fs::write(dir.join("a.txt"), b"hello").unwrap();
    std::fs::write(dir.join("big.bin"), big()).unwrap();
    std::fs::write(dir.join("dir/index.html"), b"<p>index</p>").unwrap();
    dir
}

fn big() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 251) as u8).collect()
}

fn config(root: PathBuf, timeout: u64, requests: u64) -> HttpConfig {
    HttpConfig {
        root,
        keepalive_timeout: Duration::from_secs(timeout),
        keepalive_requests: requests,
    }
}

/// Starts the server on one end of a pipe; returns the client's end.
fn start(cfg: HttpConfig) -> (DuplexStream, tokio::task::JoinHandle<io::Result<()>>) {
    let (client, server) = tokio::io::duplex(1 << 20);
    let task = tokio::spawn(async move { serve_connection(server, &cfg).await });
    (client, task)
}

/// One response: status, fields (lower-case names), body.
#[derive(Debug)]
struct Response {
    status: u16,
    fields: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.0 == name)
            .map(|f| f.1.as_str())
    }
}

/// Reads one response from `buf` + `io` (a HEAD response has no body).
async fn read_response(io: &mut DuplexStream, buf: &mut Vec<u8>, head: bool) -> Option<Response> {
    loop {
        let mut fields = [httparse::EMPTY_HEADER; 32];
        let mut res = httparse::Response::new(&mut fields);
        if let httparse::Status::Complete(n) = res.parse(buf).unwrap() {
            let status = res.code.unwrap();
            let fields: Vec<(String, String)> = res
                .headers
                .iter()
                .map(|f| {
                    (
                        f.name.to_ascii_lowercase(),
                        String::from_utf8(f.value.to_vec()).unwrap(),
                    )
                })
                .collect();
            let len: usize = fields
                .iter()
                .find(|f| f.0 == "content-length")
                .unwrap()
                .1
                .parse()
                .unwrap();
            buf.drain(..n);
            let len = if head { 0 } else { len };
            while buf.len() < len {
                let mut chunk = vec![0u8; 65536];
                let k = io.read(&mut chunk).await.unwrap();
                assert!(k > 0, "the body was cut short");
                buf.extend_from_slice(&chunk[..k]);
            }
            let body = buf.drain(..len).collect();
            return Some(Response {
                status,
                fields,
                body,
            });
        }
        let mut chunk = vec![0u8; 65536];
        let k = io.read(&mut chunk).await.unwrap();
        if k == 0 {
            assert!(buf.is_empty(), "a partial response: {buf:?}");
            return None;
        }
        buf.extend_from_slice(&chunk[..k]);
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: synack\r\n\r\n")
}

#[tokio::test]
async fn keep_alive_serves_keepalive_requests_then_closes() {
    let (mut c, task) = start(config(root(), 75, 3));
    let mut buf = Vec::new();
    for i in 1..=3 {
        c.write_all(get("/a.txt").as_bytes()).await.unwrap();
        let r = read_response(&mut c, &mut buf, false).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello");
        assert_eq!(r.field("content-type"), Some("text/plain"));
        let expect = if i < 3 { "keep-alive" } else { "close" };
        assert_eq!(r.field("connection"), Some(expect), "response {i}");
    }
    // The third was the last: the server closes.
    assert!(read_response(&mut c, &mut buf, false).await.is_none());
    drop(c);
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn pipelined_requests_and_a_large_file_are_answered_in_order() {
    let (mut c, _task) = start(config(root(), 75, 100));
    let reqs = format!("{}{}{}", get("/big.bin"), get("/a.txt"), get("/dir/"));
    c.write_all(reqs.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut c, &mut buf, false).await.unwrap();
    assert_eq!((r.status, r.body == big()), (200, true));
    assert_eq!(r.field("content-type"), Some("application/octet-stream"));
    assert!(r
        .field("last-modified")
        .is_some_and(|d| d.ends_with(" GMT")));
    let r = read_response(&mut c, &mut buf, false).await.unwrap();
    assert_eq!(r.body, b"hello");
    let r = read_response(&mut c, &mut buf, false).await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"<p>index</p>"[..]));
}

#[tokio::test]
async fn head_has_the_length_and_no_body() {
    let (mut c, _task) = start(config(root(), 75, 100));
    c.write_all(b"HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut c, &mut buf, true).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.field("content-length"), Some("200000"));
    // Nothing follows the head: the next response starts right away.
    c.write_all(get("/a.txt").as_bytes()).await.unwrap();
    let r = read_response(&mut c, &mut buf, false).await.unwrap();
    assert_eq!(r.body, b"hello");
}

#[tokio::test]
async fn http10_closes_unless_asked_and_a_body_is_skipped() {
    let (mut c, _task) = start(config(root(), 75, 100));
    let mut buf = Vec::new();
    c.write_all(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\nbody")
        .await
        .unwrap();
    let r = read_response(&mut c, &mut buf, false).await.unwrap();
    assert_eq!(r.field("connection"), Some("keep-alive"));
    c.write_all(b"GET /a.txt HTTP/1.0\r\n\r\n").await.unwrap();
    let r = read_response(&mut c, &mut buf, false).await.unwrap();
    assert_eq!((r.status, r.field("connection")), (200, Some("close")));
    assert!(read_response(&mut c, &mut buf, false).await.is_none());
}

#[tokio::test]
async fn connection_close_and_zero_timeout_turn_keep_alive_off() {
    let (mut c, _task) = start(config(root(), 75, 100));
    let mut buf = Vec::new();
    c.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut c, &mut buf, false).await.unwrap();
    assert_eq!(r.field("connection"), Some("close"));
    assert!(read_response(&mut c, &mut buf, false).await.is_none());

    let (mut c, _task) = start(config(root(), 0, 100));
    c.write_all(get("/a.txt").as_bytes()).await.unwrap();
    let r = read_response(&mut c, &mut buf, false).await.unwrap();
    assert_eq!(r.field("connection"), Some("close"));
    assert!(read_response(&mut c, &mut buf, false).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_closes_after_the_timeout() {
    let (mut c, _task) = start(config(root(), 75, 100));
    let mut buf = Vec::new();
    c.write_all(get("/a.txt").as_bytes()).await.unwrap();
    read_response(&mut c, &mut buf, false).await.unwrap();
    let idle = Instant::now();
    assert!(read_response(&mut c, &mut buf, false).await.is_none());
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_secs(75) && waited < Duration::from_secs(76),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn refusals_have_their_status() {
    for (req, status) in [
        ("POST /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("GET /a.txt HTTP/1.1\r\n\r\n", 400),
        ("GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /dir/../../a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /a%2 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /a.txt HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (
            "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            501,
        ),
        (
            "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
        ),
        ("garbage\r\n\r\n", 400),
    ] {
        let (mut c, _task) = start(config(root(), 75, 100));
        c.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let r = read_response(&mut c, &mut buf, false).await.unwrap();
        assert_eq!(r.status, status, "{req:?}");
        assert_eq!(r.field("connection"), Some("close"), "{req:?}");
        if status == 405 {
            assert_eq!(r.field("allow"), Some("GET, HEAD"));
        }
    }
}

/// Not found and forbidden keep the connection, as nginx does.
#[tokio::test]
async fn missing_and_forbidden_keep_the_connection() {
    let (mut c, _task) = start(config(root(), 75, 100));
    let mut buf = Vec::new();
    for (path, status) in [
        ("/nope", 404),
        ("/a.txt/", 404),
        ("/empty/", 403),
        ("/a.txt", 200),
    ] {
        c.write_all(get(path).as_bytes()).await.unwrap();
        let r = read_response(&mut c, &mut buf, false).await.unwrap();
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.field("connection"), Some("keep-alive"), "{path}");
    }
}

#[tokio::test]
async fn paths_decode_and_directories_redirect() {
    let (mut c, _task) = start(config(root(), 75, 100));
    let mut buf = Vec::new();
    for (path, status, body) in [
        ("/%61.txt", 200, &b"hello"[..]),
        ("/./dir/../a.txt?x=1", 200, b"hello"),
        ("http://synack/a.txt", 200, b"hello"),
    ] {
        c.write_all(get(path).as_bytes()).await.unwrap();
        let r = read_response(&mut c, &mut buf, false).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (status, body), "{path}");
    }
    c.write_all(get("/dir").as_bytes()).await.unwrap();
    let r = read_response(&mut c, &mut buf, false).await.unwrap();
    assert_eq!((r.status, r.field("location")), (301, Some("/dir/")));
}

#[test]
fn dates_are_imf_fixdates() {
    assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // a leap day
    assert_eq!(http_date(t), "Tue, 29 Feb 2000 00:00:00 GMT");
}
