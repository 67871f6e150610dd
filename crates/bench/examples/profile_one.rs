//! One workload on one stack, for profilers:
//! `cargo run --release -p synack-bench --example profile_one -- synack|smoltcp bulk|churn [N] [zc|copy] [ts|nots]`
//! (N: bytes for bulk, lifecycles for churn; default zero-copy with timestamps).

use synack_bench::{smoltcp_side, synack_side, Params, Variant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stack = args.first().map_or("synack", String::as_str);
    let workload = args.get(1).map_or("bulk", String::as_str);
    let n: Option<u64> = args.get(2).map(|s| s.parse().expect("a number"));
    let v = Variant {
        zero_copy: args.get(3).is_none_or(|a| a == "zc"),
        timestamps: args.get(4).is_none_or(|a| a == "ts"),
    };
    let p = Params::FULL;
    match (stack, workload) {
        ("synack", "bulk") => {
            let o = synack_side::bulk(n.unwrap_or(p.bytes), p.bulk_buf, v).expect("bulk");
            println!("synack bulk {:.1} MiB/s", o.mib_per_sec());
        }
        ("smoltcp", "bulk") => {
            let o = smoltcp_side::bulk(n.unwrap_or(p.bytes), p.bulk_buf, v).expect("bulk");
            println!("smoltcp bulk {:.1} MiB/s", o.mib_per_sec());
        }
        ("synack", "churn") => {
            let o = synack_side::churn(n.unwrap_or(p.conns), p.concurrency, p.churn_buf, v)
                .expect("churn");
            println!("synack churn {:.0} conn/s", o.per_sec());
        }
        ("smoltcp", "churn") => {
            let o = smoltcp_side::churn(n.unwrap_or(p.conns), p.concurrency, p.churn_buf, v)
                .expect("churn");
            println!("smoltcp churn {:.0} conn/s", o.per_sec());
        }
        _ => {
            eprintln!("usage: profile_one synack|smoltcp bulk|churn [N] [zc|copy] [ts|nots]");
            std::process::exit(2);
        }
    }
}
