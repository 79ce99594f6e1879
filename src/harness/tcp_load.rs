//! A RESP2 load generator: K connections, each sending rounds of P
//! pipelined requests and reading the P replies, over a mix of writes and
//! reads, against `ringmaster serve` (ADD / GET) or a Redis server
//! (SET / GET).
//!
//! Latency is end to end: from the moment a round was due to be sent to
//! the moment its reply was read. Unpaced, a round is due when the previous
//! one completes. Paced (`rate`), round `i` of a connection is due at
//! `start + i * interval`; a round sent late because the server was slow
//! still counts from when it was due, so a stall shows up in every request
//! it delayed (coordinated omission corrected, as in HdrHistogram's and
//! wrk2's load generators). Use pacing to read a latency distribution at a
//! given load; unpaced runs measure throughput, and their latencies only
//! say how long a full pipeline takes to come back.

use super::event::{new_histogram, now_ns};
use super::shop_load::Rng;
use crate::ingress::encode_request;
use hdrhistogram::Histogram;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Which commands the generator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `ADD id price stock name` and `GET id` (ringmaster's shop).
    Shop,
    /// `SET product:id "name|price|stock"` and `GET product:id` (Redis).
    Redis,
}

/// What to send.
#[derive(Debug, Clone)]
pub struct TcpLoad {
    /// The server.
    pub addr: SocketAddr,
    /// Connections, each on its own thread.
    pub connections: usize,
    /// Requests per round on a connection (pipeline depth).
    pub pipeline: usize,
    /// Requests in all.
    pub requests: u64,
    /// Percentage of writes (the rest are reads).
    pub write_percent: u64,
    /// Ids are drawn from `1..=keyspace`.
    pub keyspace: u64,
    /// Requests per second over all connections; `None`: as fast as the
    /// server answers.
    pub rate: Option<u64>,
    /// Command set.
    pub dialect: Dialect,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct TcpLoadReport {
    /// Requests answered.
    pub requests: u64,
    /// Answers that were RESP errors.
    pub errors: u64,
    /// From the first send to the last reply.
    pub elapsed_ns: u64,
    /// End-to-end latency per request, nanoseconds.
    pub latency_ns: Histogram<u64>,
}

impl TcpLoadReport {
    /// Requests per second.
    pub fn throughput(&self) -> f64 {
        self.requests as f64 * 1e9 / self.elapsed_ns.max(1) as f64
    }
}

fn next_request(out: &mut Vec<u8>, load: &TcpLoad, rng: &mut Rng) {
    let id = 1 + rng.below(load.keyspace.max(1));
    let write = rng.below(100) < load.write_percent;
    // The key on the stack: no allocation per request.
    let mut key = [0u8; 32];
    let prefix = if load.dialect == Dialect::Redis {
        "product:"
    } else {
        ""
    };
    let len = {
        let mut rest = &mut key[..];
        // 8 + 20 digits fit in 32 bytes: the write cannot fail.
        let _ = write!(rest, "{prefix}{id}");
        32 - rest.len()
    };
    let key = &key[..len];
    match (load.dialect, write) {
        (Dialect::Shop, true) => {
            encode_request(out, &[b"ADD", key, b"1250", b"3", b"Blue", b"Mug"])
        }
        (Dialect::Redis, true) => encode_request(out, &[b"SET", key, b"Blue Mug|1250|3"]),
        (_, false) => encode_request(out, &[b"GET", key]),
    }
}

/// Read one reply (of any shape); `true` if it was an error.
fn skip_reply(r: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<bool> {
    read_reply(r, line, None)
}

/// Read one reply (of any shape), `line` a scratch buffer; `true` if it
/// was (or, an array, held) an error. With `values`, every simple string,
/// error (with its `-`), integer and bulk string in it is appended, in
/// order; without, nothing is allocated.
fn read_reply(
    r: &mut impl BufRead,
    line: &mut Vec<u8>,
    mut values: Option<&mut Vec<String>>,
) -> io::Result<bool> {
    line.clear();
    if r.read_until(b'\n', line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "not a RESP reply");
    let number = |l: &[u8]| -> io::Result<i64> {
        std::str::from_utf8(l.get(1..l.len().saturating_sub(2)).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    let text = |l: &[u8], from: usize| {
        String::from_utf8_lossy(l.get(from..l.len().saturating_sub(2)).unwrap_or_default())
            .into_owned()
    };
    match line.first() {
        Some(b'+' | b':') => {
            if let Some(values) = values {
                values.push(text(line, 1));
            }
            Ok(false)
        }
        Some(b'-') => {
            if let Some(values) = values {
                values.push(text(line, 0));
            }
            Ok(true)
        }
        Some(b'$') => {
            let len = number(line)?;
            if len >= 0 {
                let mut body = vec![0; len as usize + 2];
                r.read_exact(&mut body)?;
                if let Some(values) = values {
                    body.truncate(len as usize);
                    values.push(String::from_utf8_lossy(&body).into_owned());
                }
            }
            Ok(false)
        }
        Some(b'*') => {
            let n = number(line)?;
            let mut error = false;
            for _ in 0..n.max(0) {
                error |= read_reply(r, line, values.as_deref_mut())?;
            }
            Ok(error)
        }
        _ => Err(bad()),
    }
}

/// A blocking RESP client for one command at a time (probes, `INFO`,
/// `ringmaster promote`): replies come back flattened into strings.
#[derive(Debug)]
pub struct RespConn {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    line: Vec<u8>,
    reply: Vec<String>,
}

impl RespConn {
    /// Connect (within 5 s; replies within 30 s).
    ///
    /// # Errors
    ///
    /// Connecting.
    pub fn open(addr: SocketAddr) -> io::Result<Self> {
        let writer = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        writer.set_nodelay(true)?;
        writer.set_read_timeout(Some(Duration::from_secs(30)))?;
        let reader = BufReader::new(writer.try_clone()?);
        Ok(Self {
            writer,
            reader,
            line: Vec::new(),
            reply: Vec::new(),
        })
    }

    /// Send `args` as one command; its reply, flattened.
    ///
    /// # Errors
    ///
    /// I/O, or an error reply (its text in the error, after the command's
    /// name: never its arguments, which may be a password).
    pub fn call(&mut self, args: &[&str]) -> io::Result<&[String]> {
        let mut request = Vec::new();
        let words: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        encode_request(&mut request, &words);
        self.writer.write_all(&request)?;
        self.reply.clear();
        if read_reply(&mut self.reader, &mut self.line, Some(&mut self.reply))? {
            let error = self.reply.iter().find(|r| r.starts_with('-'));
            return Err(io::Error::other(format!(
                "{}: {}",
                args.first().copied().unwrap_or_default(),
                error.map_or("an error reply", String::as_str)
            )));
        }
        Ok(&self.reply)
    }
}

/// One connection's share: `(answered, errors, histogram)`.
fn connection(
    load: &TcpLoad,
    index: usize,
    requests: u64,
    start_ns: u64,
) -> io::Result<(u64, u64, Histogram<u64>)> {
    let tcp = TcpStream::connect(load.addr)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = tcp.try_clone()?;
    let mut reader = BufReader::with_capacity(64 * 1024, tcp);
    let mut rng = Rng::new(0x5eed ^ index as u64);
    let mut hist = new_histogram();
    let (mut done, mut errors, mut line, mut buf) = (0u64, 0u64, Vec::new(), Vec::new());
    let pipeline = load.pipeline.max(1) as u64;
    // Paced: this connection's rounds are due every `interval` ns.
    let interval = load.rate.map(|rate| {
        let per_connection = rate as f64 / load.connections.max(1) as f64;
        (pipeline as f64 * 1e9 / per_connection.max(1e-9)) as u64
    });
    let mut round = 0u64;
    while done < requests {
        let n = pipeline.min(requests - done);
        buf.clear();
        for _ in 0..n {
            next_request(&mut buf, load, &mut rng);
        }
        let due = match interval {
            Some(every) => {
                let due = start_ns + round * every;
                while now_ns() < due {
                    std::thread::sleep(
                        Duration::from_micros(50)
                            .min(Duration::from_nanos(due.saturating_sub(now_ns()))),
                    );
                }
                due
            }
            None => now_ns(),
        };
        writer.write_all(&buf)?;
        for _ in 0..n {
            errors += u64::from(skip_reply(&mut reader, &mut line)?);
        }
        let latency = now_ns().saturating_sub(due).max(1);
        hist.saturating_record_n(latency, n);
        done += n;
        round += 1;
    }
    Ok((done, errors, hist))
}

/// Run `load` to completion.
///
/// # Errors
///
/// A connection could not be made or broke, or a reply was not RESP.
pub fn run(load: &TcpLoad) -> io::Result<TcpLoadReport> {
    let k = load.connections.max(1) as u64;
    let start_ns = now_ns();
    let results: Vec<io::Result<(u64, u64, Histogram<u64>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..k)
            .map(|i| {
                let share = load.requests / k + u64::from(i < load.requests % k);
                s.spawn(move || connection(load, i as usize, share, start_ns))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("load thread panicked")))
            })
            .collect()
    });
    let elapsed_ns = now_ns() - start_ns;
    let mut report = TcpLoadReport {
        requests: 0,
        errors: 0,
        elapsed_ns,
        latency_ns: new_histogram(),
    };
    for r in results {
        let (done, errors, hist) = r?;
        report.requests += done;
        report.errors += errors;
        let _ = report.latency_ns.add(&hist);
    }
    Ok(report)
}

#[cfg(test)]
mod reply_tests {
    use super::{read_reply, RespConn};
    use std::io::{Read as _, Write as _};

    #[test]
    fn an_error_reply_names_the_command_and_never_its_arguments() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"-WRONGPASS nope\r\n").unwrap();
        });
        let mut conn = RespConn::open(addr).unwrap();
        let error = conn.call(&["AUTH", "hunter2"]).unwrap_err().to_string();
        server.join().unwrap();
        assert_eq!(error, "AUTH: -WRONGPASS nope");
        assert!(!error.contains("hunter2"));
    }

    #[test]
    fn a_reply_is_read_whole_and_flattened_or_skipped() {
        let wire = b"*3\r\n:1\r\n$8\r\nBlue Mug\r\n*2\r\n$-1\r\n-ERR no\r\n+OK\r\n";
        let mut r = &wire[..];
        let (mut line, mut values) = (Vec::new(), Vec::new());
        assert!(read_reply(&mut r, &mut line, Some(&mut values)).unwrap());
        assert_eq!(values, ["1", "Blue Mug", "-ERR no"]);
        assert!(!read_reply(&mut r, &mut line, None).unwrap());
        assert!(r.is_empty());
        assert!(read_reply(&mut &b"?x\r\n"[..], &mut line, None).is_err());
    }
}
