//! What each request does on its connection: parsing a turn's requests,
//! the connection-level commands (`HELLO`, `AUTH`, `CLIENT`, `INFO`, ...),
//! transactions (`MULTI`/`EXEC`), and the shop commands handed to the ring.
//!
//! Order of checks for each request: authentication (until `AUTH`, only
//! `AUTH`, `HELLO ... AUTH` and `QUIT`), then an open transaction (commands
//! are queued, not run), then the command itself.

use super::auth::Password;
use super::connection::{Closing, Connection, ReadOutcome};
use super::protocol::{decode_request, Protocol, Reply as Resp};
use super::request::{parse_request, ClientRequest, Credentials, Request};
use super::server::{ClientMemory, ServeReport, ServerConfig};
use super::session::Multi;
use crate::shop::Command;
use crate::shop::{LiveJournal, LiveStages};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

/// Figures for `INFO` that do not change while serving.
#[derive(Debug)]
pub(super) struct InfoSource {
    pub(super) live: Arc<LiveStages>,
    pub(super) journal: Arc<LiveJournal>,
    pub(super) engine: String,
    pub(super) started: Instant,
}

/// State the request parser updates, split from the connections so both
/// can be borrowed at once.
#[derive(Debug)]
pub(super) struct Intake {
    pub(super) batch: Vec<Command>,
    /// The ranges of `batch` that are transactions (`EXEC`), published
    /// with their marks.
    pub(super) transactions: Vec<Range<usize>>,
    /// Who each published command's reply goes to, in request order.
    pub(super) owed: VecDeque<Owed>,
    pub(super) args: Vec<Range<usize>>,
    pub(super) report: ServeReport,
}

/// A published command's reply, owed to a connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Owed {
    pub(super) token: usize,
    /// `DEL` answers "not found" with `:0`, the others with null.
    pub(super) delete: bool,
    /// The protocol the connection spoke when it sent the command.
    pub(super) protocol: Protocol,
}

/// Why a connection's parsing stopped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// No complete request left in the buffer.
    Incomplete,
    /// This connection's limits (owed replies, unwritten output), or its
    /// turn ended early (a failed `AUTH`): look again next turn.
    Paused,
    /// The server's window is full.
    Window,
    /// The connection is closing.
    Closing,
}

/// What parsing needs besides the connection and the intake.
pub(super) struct ParseContext<'a> {
    pub(super) config: &'a ServerConfig,
    pub(super) info: &'a InfoSource,
    pub(super) connections: usize,
    pub(super) in_flight: usize,
    pub(super) memory: ClientMemory,
    /// The server's window (commands in flight, at most).
    pub(super) window: usize,
    pub(super) now: Instant,
}

/// Parse every complete request the connection holds, then read once more
/// (into the shared `scratch`) and parse what came, until a limit says
/// stop. What a turn reads and does not parse is kept in the connection.
pub(super) fn read_and_parse(
    c: &mut Connection,
    token: usize,
    intake: &mut Intake,
    context: &ParseContext<'_>,
    now: Instant,
    window_left: &mut usize,
    scratch: &mut [u8],
) -> Stop {
    let stop = parse_held(c, token, intake, context, window_left);
    if stop != Stop::Incomplete {
        return stop;
    }
    if let Some(stop) = refuse_oversized(c, intake, context.config) {
        return stop;
    }
    if !c.readable {
        return Stop::Incomplete;
    }
    let stop = match c.read(scratch) {
        ReadOutcome::Data(n) => {
            c.last_active = now;
            let bytes = &scratch[..n];
            if c.input.is_empty() {
                // The common case: nothing held, parse straight from the
                // scratch buffer and keep only the rest.
                let (stop, used) = parse_buffered(c, bytes, token, intake, context, window_left);
                c.keep_unparsed(0, bytes, used);
                stop
            } else {
                c.input.extend_from_slice(bytes);
                parse_held(c, token, intake, context, window_left)
            }
        }
        ReadOutcome::Drained => return Stop::Incomplete,
        ReadOutcome::Closed => {
            c.readable = false;
            c.closing = Some(Closing::PeerClosed);
            return Stop::Closing;
        }
    };
    if stop != Stop::Incomplete {
        return stop;
    }
    refuse_oversized(c, intake, context.config).unwrap_or(Stop::Incomplete)
}

/// Parse what the connection holds from earlier reads.
fn parse_held(
    c: &mut Connection,
    token: usize,
    intake: &mut Intake,
    context: &ParseContext<'_>,
    window_left: &mut usize,
) -> Stop {
    if c.input.is_empty() {
        return Stop::Incomplete;
    }
    let held = std::mem::take(&mut c.input);
    let (stop, used) = parse_buffered(c, &held, token, intake, context, window_left);
    c.input = held;
    c.keep_unparsed(used, &[], 0);
    stop
}

/// An incomplete request over `max_request` bytes: answer with an error
/// and close.
fn refuse_oversized(
    c: &mut Connection,
    intake: &mut Intake,
    config: &ServerConfig,
) -> Option<Stop> {
    let len = c.input.len();
    if len <= config.max_request {
        return None;
    }
    c.reply_now(|out| {
        Resp::error(
            out,
            &format!(
                "ERR Protocol error: request over {len} bytes; the limit is {}",
                config.max_request
            ),
        );
    });
    c.input = Vec::new();
    c.closing = Some(Closing::Framing);
    intake.report.bad_requests += 1;
    Some(Stop::Closing)
}

/// Most arguments looked at without allocating.
const INLINE_ARGS: usize = 16;

/// What handling one request did to the turn.
enum Next {
    /// Go on with the next request.
    Continue,
    /// Stop this turn, the request consumed.
    Stop(Stop),
    /// Stop this turn, and keep the request to handle again next time.
    Retry(Stop),
}

/// Parse the requests in `bytes` (read for `c`, not held by it) until one
/// is incomplete or a limit says stop; returns why, and how many bytes the
/// parsed requests took.
fn parse_buffered(
    c: &mut Connection,
    bytes: &[u8],
    token: usize,
    intake: &mut Intake,
    context: &ParseContext<'_>,
    window_left: &mut usize,
) -> (Stop, usize) {
    let config = context.config;
    let mut parsed = 0;
    loop {
        if c.awaiting >= config.max_pending || c.unwritten() >= config.max_output {
            return (Stop::Paused, parsed);
        }
        if *window_left == 0 {
            return (Stop::Window, parsed);
        }
        let buf = &bytes[parsed..];
        let (used, request) = match decode_request(buf, &config.limits, &mut intake.args) {
            Ok(None) => return (Stop::Incomplete, parsed),
            Ok(Some(used)) => {
                let request = if intake.args.len() <= INLINE_ARGS {
                    let mut words: [&[u8]; INLINE_ARGS] = [&[]; INLINE_ARGS];
                    for (word, range) in words.iter_mut().zip(&intake.args) {
                        *word = buf.get(range.clone()).unwrap_or_default();
                    }
                    parse_request(&words[..intake.args.len()])
                } else {
                    let words: Vec<&[u8]> = intake
                        .args
                        .iter()
                        .map(|r| buf.get(r.clone()).unwrap_or_default())
                        .collect();
                    parse_request(&words)
                };
                (used, request)
            }
            Err(e) => {
                c.reply_now(|out| Resp::error(out, &format!("ERR Protocol error: {e}")));
                c.closing = Some(Closing::Framing);
                intake.report.bad_requests += 1;
                return (Stop::Closing, bytes.len());
            }
        };
        let request = match request {
            Ok(Some(request)) => request,
            Ok(None) => {
                parsed += used;
                continue;
            }
            Err(e) => {
                parsed += used;
                intake.report.requests += 1;
                intake.report.bad_requests += 1;
                refuse(c, &format!("ERR {e}"), !c.session.authenticated);
                continue;
            }
        };
        // A request is counted once it is taken: an `EXEC` waiting for
        // room in the window (`Retry`) is handled again later.
        match handle(c, request, token, intake, context, window_left) {
            Next::Continue => {
                intake.report.requests += 1;
                parsed += used;
            }
            Next::Stop(stop) => {
                intake.report.requests += 1;
                return (stop, parsed + used);
            }
            Next::Retry(stop) => return (stop, parsed),
        }
    }
}

/// Answer a request that could not be parsed with an error: `NOAUTH`
/// instead before authentication (an unauthenticated client learns nothing
/// about commands); inside `MULTI` the error also aborts the transaction.
fn refuse(c: &mut Connection, error: &str, unauthenticated: bool) {
    if unauthenticated {
        c.reply_now(|out| Resp::error(out, NOAUTH));
        return;
    }
    if let Some(multi) = c.session.multi.as_mut() {
        multi.failed = true;
    }
    c.reply_now(|out| Resp::error(out, error));
}

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Handle one parsed request.
#[inline]
fn handle(
    c: &mut Connection,
    request: Request,
    token: usize,
    intake: &mut Intake,
    context: &ParseContext<'_>,
    window_left: &mut usize,
) -> Next {
    let config = context.config;
    let allowed = matches!(
        request,
        Request::Auth(_) | Request::Hello { .. } | Request::Quit
    );
    if !c.session.authenticated && !allowed {
        intake.report.bad_requests += 1;
        c.reply_now(|out| Resp::error(out, NOAUTH));
        return Next::Continue;
    }
    let control = matches!(
        request,
        Request::Exec | Request::Discard | Request::Multi | Request::Quit
    );
    if c.session.multi.is_some() && !control {
        queue(c, request, intake, config);
        return Next::Continue;
    }
    let protocol = c.session.protocol;
    match request {
        Request::Shop(command) => {
            if command.is_write() {
                if let Some(refusal) = config.role.as_ref().and_then(|r| r.refuse_writes()) {
                    intake.report.bad_requests += 1;
                    c.reply_now(|out| Resp::error(out, &refusal));
                    return Next::Continue;
                }
            }
            publish(c, command, token, intake);
            *window_left -= 1;
        }
        Request::Ping(None) => c.reply_now(|out| Resp::simple(out, "PONG")),
        Request::Ping(Some(message)) | Request::Echo(message) => {
            c.reply_now(|out| Resp::bulk(out, &message));
        }
        Request::Info => {
            let text = info_text(context, &intake.report);
            c.reply_now(|out| protocol.text(out, text.as_bytes()));
        }
        Request::Quit => {
            c.reply_now(|out| Resp::simple(out, "OK"));
            c.closing = Some(Closing::Quit);
            return Next::Stop(Stop::Closing);
        }
        Request::Hello {
            version,
            auth,
            name,
        } => return hello(c, version, auth, name, config),
        Request::Auth(credentials) => {
            return authenticate(c, &credentials, config.password.as_ref())
        }
        Request::Multi => {
            if c.session.multi.is_some() {
                c.reply_now(|out| Resp::error(out, "ERR MULTI calls can not be nested"));
            } else {
                c.session.multi = Some(Multi::default());
                c.reply_now(|out| Resp::simple(out, "OK"));
            }
        }
        Request::Discard => {
            if c.session.multi.take().is_some() {
                c.reply_now(|out| Resp::simple(out, "OK"));
            } else {
                c.reply_now(|out| Resp::error(out, "ERR DISCARD without MULTI"));
            }
        }
        Request::Exec => return exec(c, token, intake, context, window_left),
        Request::Client(request) => client(c, request, context.now),
        Request::CommandInfo | Request::ConfigGet => c.reply_now(|out| Resp::array(out, 0)),
        Request::Acknowledge => c.reply_now(|out| Resp::simple(out, "OK")),
        Request::Promote => match config.role.as_ref().map(|r| r.promote()) {
            Some(Ok(status)) => c.reply_now(|out| Resp::simple(out, &status)),
            Some(Err(error)) => c.reply_now(|out| Resp::error(out, &error)),
            None => {
                c.reply_now(|out| Resp::error(out, "ERR not a standby: this server is the primary"))
            }
        },
    }
    Next::Continue
}

/// A shop command into this turn's batch, its reply owed to `c`.
#[inline]
fn publish(c: &mut Connection, command: Command, token: usize, intake: &mut Intake) {
    let delete = matches!(command, Command::Delete { .. });
    intake.batch.push(command);
    intake.owed.push_back(Owed {
        token,
        delete,
        protocol: c.session.protocol,
    });
    c.owe_engine_reply();
}

/// A request inside `MULTI`: queued and answered `QUEUED`, or refused
/// (which makes `EXEC` abort).
fn queue(c: &mut Connection, request: Request, intake: &mut Intake, config: &ServerConfig) {
    let Some(multi) = c.session.multi.as_mut() else {
        return;
    };
    let refusal = match &request {
        Request::Shop(command) => {
            if multi.shop_commands >= config.max_pending {
                Some(format!(
                    "ERR a transaction holds at most {} commands (the server's max_pending)",
                    config.max_pending
                ))
            } else if command.is_write() {
                config.role.as_ref().and_then(|r| r.refuse_writes())
            } else {
                None
            }
        }
        Request::Ping(_) | Request::Echo(_) => None,
        _ => Some("ERR command not allowed inside a transaction".to_owned()),
    };
    match refusal {
        Some(error) => {
            intake.report.bad_requests += 1;
            multi.failed = true;
            c.reply_now(|out| Resp::error(out, &error));
        }
        None => {
            multi.push(request);
            c.reply_now(|out| Resp::simple(out, "QUEUED"));
        }
    }
}

/// `EXEC`: the queued shop commands go into this turn's batch as one
/// transaction (contiguous, marked), their replies and the immediate ones
/// in one array.
fn exec(
    c: &mut Connection,
    token: usize,
    intake: &mut Intake,
    context: &ParseContext<'_>,
    window_left: &mut usize,
) -> Next {
    let Some(multi) = c.session.multi.as_ref() else {
        c.reply_now(|out| Resp::error(out, "ERR EXEC without MULTI"));
        return Next::Continue;
    };
    let needed = multi.shop_commands;
    if !multi.failed && needed > context.window {
        c.session.multi = None;
        c.reply_now(|out| {
            Resp::error(
                out,
                &format!(
                    "EXECABORT Transaction discarded: {needed} commands, more than the {} \
                     the server keeps in flight",
                    context.window
                ),
            );
        });
        return Next::Continue;
    }
    if !multi.failed && needed > *window_left {
        return Next::Retry(Stop::Window);
    }
    let Some(multi) = c.session.multi.take() else {
        return Next::Continue;
    };
    if multi.failed {
        c.reply_now(|out| {
            Resp::error(
                out,
                "EXECABORT Transaction discarded because of previous errors.",
            );
        });
        return Next::Continue;
    }
    c.reply_now(|out| Resp::array(out, multi.queued.len()));
    let start = intake.batch.len();
    for request in multi.queued {
        match request {
            Request::Shop(command) => publish(c, command, token, intake),
            Request::Ping(None) => c.reply_now(|out| Resp::simple(out, "PONG")),
            Request::Ping(Some(message)) | Request::Echo(message) => {
                c.reply_now(|out| Resp::bulk(out, &message));
            }
            _ => unreachable!("only shop commands, PING and ECHO are queued"),
        }
    }
    *window_left -= needed;
    if intake.batch.len() - start > 1 {
        intake.transactions.push(start..intake.batch.len());
    }
    Next::Continue
}

/// `HELLO [version [AUTH user pass] [SETNAME name]]`.
fn hello(
    c: &mut Connection,
    version: Option<i64>,
    auth: Option<Credentials>,
    name: Option<Vec<u8>>,
    config: &ServerConfig,
) -> Next {
    let protocol = match version {
        None => c.session.protocol,
        Some(2) => Protocol::Resp2,
        Some(3) => Protocol::Resp3,
        Some(_) => {
            c.reply_now(|out| {
                Resp::error(out, "NOPROTO sorry, this protocol version is not supported");
            });
            return Next::Continue;
        }
    };
    if let Some(credentials) = auth {
        if let Next::Stop(stop) = authenticate_quietly(c, &credentials, config.password.as_ref()) {
            return Next::Stop(stop);
        }
    } else if !c.session.authenticated {
        c.reply_now(|out| {
            Resp::error(
                out,
                "NOAUTH HELLO must be called with the client already authenticated, otherwise \
                 the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the \
                 client and select the RESP protocol version at the same time",
            );
        });
        return Next::Continue;
    }
    c.session.protocol = protocol;
    if let Some(name) = name {
        c.session.name = name;
    }
    let standby = config
        .role
        .as_ref()
        .is_some_and(|r| r.refuse_writes().is_some());
    let id = c.session.id;
    c.reply_now(|out| hello_reply(out, protocol, id, if standby { "slave" } else { "master" }));
    Next::Continue
}

/// Check credentials; on success the connection is authenticated and
/// nothing is answered (the caller answers). A failure is answered
/// `WRONGPASS` (or an error naming the problem) and ends the connection's
/// turn, so one connection gets one guess per turn of the event loop and a
/// pipelined brute force takes no more of the server than any client.
fn authenticate_quietly(
    c: &mut Connection,
    credentials: &Credentials,
    password: Option<&Password>,
) -> Next {
    let Some(password) = password else {
        c.reply_now(|out| {
            Resp::error(
                out,
                "ERR AUTH <password> called without any password configured for the default \
                 user. Are you sure your configuration is correct?",
            );
        });
        return Next::Stop(Stop::Paused);
    };
    let user_ok = credentials
        .user
        .as_deref()
        .is_none_or(|user| user == b"default");
    // Compared even for an unknown user, so the time does not tell which
    // part was wrong.
    let password_ok = password.matches(&credentials.password);
    if user_ok && password_ok {
        c.session.authenticated = true;
        Next::Continue
    } else {
        c.failed_auth += 1;
        c.reply_now(|out| Resp::error(out, WRONGPASS));
        Next::Stop(Stop::Paused)
    }
}

/// `AUTH [user] password`.
fn authenticate(
    c: &mut Connection,
    credentials: &Credentials,
    password: Option<&Password>,
) -> Next {
    let next = authenticate_quietly(c, credentials, password);
    if matches!(next, Next::Continue) {
        c.reply_now(|out| Resp::simple(out, "OK"));
    }
    next
}

/// `CLIENT ...`.
fn client(c: &mut Connection, request: ClientRequest, now: Instant) {
    let protocol = c.session.protocol;
    match request {
        ClientRequest::Id => {
            let id = i64::try_from(c.session.id).unwrap_or(i64::MAX);
            c.reply_now(|out| Resp::integer(out, id));
        }
        ClientRequest::GetName => {
            if c.session.name.is_empty() {
                c.reply_now(|out| protocol.null(out));
            } else {
                let name = c.session.name.clone();
                c.reply_now(|out| Resp::bulk(out, &name));
            }
        }
        ClientRequest::SetName(name) => {
            c.session.name = name;
            c.reply_now(|out| Resp::simple(out, "OK"));
        }
        ClientRequest::Info | ClientRequest::List => {
            let line = c.session.info_line(now);
            c.reply_now(|out| protocol.text(out, line.as_bytes()));
        }
    }
}

/// `HELLO`'s reply, as Redis gives it: a map (a flat array of pairs in
/// RESP2).
fn hello_reply(out: &mut Vec<u8>, protocol: Protocol, id: u64, role: &str) {
    protocol.map(out, 7);
    Resp::bulk(out, b"server");
    Resp::bulk(out, b"ringmaster");
    Resp::bulk(out, b"version");
    Resp::bulk(out, env!("CARGO_PKG_VERSION").as_bytes());
    Resp::bulk(out, b"proto");
    Resp::integer(out, protocol.version());
    Resp::bulk(out, b"id");
    Resp::integer(out, i64::try_from(id).unwrap_or(i64::MAX));
    Resp::bulk(out, b"mode");
    Resp::bulk(out, b"standalone");
    Resp::bulk(out, b"role");
    Resp::bulk(out, role.as_bytes());
    Resp::bulk(out, b"modules");
    Resp::array(out, 0);
}

/// `INFO`'s text: `key:value` lines in sections, as Redis writes it.
fn info_text(context: &ParseContext<'_>, report: &ServeReport) -> String {
    let info = context.info;
    let mut text = String::with_capacity(1024);
    let _ = write!(
        text,
        "# Server\r\nringmaster_version:{}\r\nuptime_in_seconds:{}\r\n\r\n\
         # Clients\r\nconnected_clients:{}\r\ntotal_connections_received:{}\r\nrejected_connections:{}\r\n\
         client_buffers_bytes:{}\r\nclient_buffers_largest_bytes:{}\r\nmaxmemory_clients:{}\r\n\r\n\
         # Stats\r\ntotal_commands_processed:{}\r\ncommands_published:{}\r\nbad_requests:{}\r\ncommands_in_flight:{}\r\n\
         evicted_clients:{}\r\nacl_access_denied_auth:{}\r\n\r\n\
         # Engine\r\n{}\r\n",
        env!("CARGO_PKG_VERSION"),
        info.started.elapsed().as_secs(),
        context.connections,
        report.accepted,
        report.refused,
        context.memory.total,
        context.memory.largest,
        context.config.max_client_memory,
        report.requests,
        report.published,
        report.bad_requests,
        context.in_flight,
        report.evicted_for_memory,
        report.failed_auth,
        info.engine,
    );
    let j = info.journal.snapshot();
    let _ = write!(
        text,
        "# Journal\r\njournal_records:{}\r\njournal_commits:{}\r\njournal_syncs:{}\r\n\
         journal_segment_rolls:{}\r\njournal_recycled_segments:{}\r\njournal_next_sequence:{}\r\n\
         journal_durable_sequence:{}\r\n\r\n",
        j.records, j.commits, j.syncs, j.rolls, j.recycled, j.next_sequence, j.durable_sequence,
    );
    text.push_str("# Replication\r\n");
    match &context.config.role {
        Some(role) => role.info(&mut text),
        None => text.push_str("role:master\r\n"),
    }
    text.push_str("\r\n# Latency\r\n");
    for stage in info.live.snapshot() {
        let h = &stage.latency_ns;
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let _ = write!(
            text,
            "stage_{}:count={},mean_batch={:.1},p50_us={:.1},p99_us={:.1},p999_us={:.1},max_us={:.1}\r\n",
            stage.name,
            h.len(),
            stage.batch_sizes.mean(),
            us(0.5),
            us(0.99),
            us(0.999),
            h.max() as f64 / 1000.0,
        );
    }
    text
}
