//! open() and sendfile() over files of zeros that the script's shell commands make.

use synack_pktdrill::{run_str, Options, Outcome};

const OPEN: &str = "\
`../common/defaults.sh
/bin/rm -f /tmp/f
/bin/dd bs=10 count=30 if=/dev/zero of=/tmp/f status=none`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0
";

fn outcome(src: &str) -> Outcome {
    run_str("s.pkt", src, &Options::default())
}

#[test]
fn sendfile_sends_what_the_file_holds() {
    // 300 bytes: from offset 100 at most 200 remain; NULL reads on from the position.
    let src = format!(
        "{OPEN}+0 open(\"/tmp/f\", O_RDONLY) = 5\n\
         +0 sendfile(4, 5, [100], 1000) = 200\n+0 > P. 1:201(200) ack 1\n\
         +0 sendfile(4, 5, NULL, 120) = 120\n+0 > P. 201:321(120) ack 1\n\
         +0 sendfile(4, 5, NULL, 1000) = 180\n+0 > P. 321:501(180) ack 1\n\
         +0 sendfile(4, 5, NULL, 1000) = 0\n\
         +0 close(5) = 0\n\
         +0 open(\"/tmp/missing\", O_RDONLY) = -1 ENOENT (No such file or directory)\n"
    );
    assert!(outcome(&src).is_pass(), "{:?}", outcome(&src));
    let wrong =
        format!("{OPEN}+0 open(\"/tmp/f\", O_RDONLY) = 5\n+0 sendfile(4, 5, [0], 1000) = 1000\n");
    match outcome(&wrong) {
        Outcome::Fail(f) => assert_eq!(f.message, "sendfile() returned 300, expected 1000"),
        other => panic!("{other:?}"),
    }
}
