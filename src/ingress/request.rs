//! From a decoded request's arguments to what the server does: a shop
//! [`Command`] or a connection-level request (`PING`, `INFO`, `QUIT`,
//! `HELLO`, `AUTH`, `MULTI`, ...). Every argument is validated here, at the
//! edge. The replies of each, in both protocols, are in docs/protocol.md.
//!
//! | request | reply |
//! |---|---|
//! | `PING [msg]` | `+PONG`, or `msg` as a bulk string |
//! | `ADD id price stock name...` | the product as an array (the name's words joined by spaces) |
//! | `UPDATE id [PRICE p] [STOCK s] [NAME n]` | the product |
//! | `DEL id` | `:1` |
//! | `GET id` | the product, or a null |
//! | `LIST offset count` | an array of products |
//! | `SEARCH words... [LIMIT n]` | an array of `[id, name]` pairs (default limit 10) |
//! | `COUNT` | `:n` |
//! | `DBSIZE` | `:n`, as `COUNT` |
//! | `INFO` | text of engine figures |
//! | `QUIT` | `+OK`, then close |
//! | `ECHO msg` | `msg` |
//! | `HELLO [2\|3 [AUTH user pass] [SETNAME name]]` | the server's map; switches the protocol |
//! | `AUTH [user] password` | `+OK`, or `-WRONGPASS` |
//! | `MULTI`, `EXEC`, `DISCARD` | `+OK`; the queued commands' replies as an array; `+OK` |
//! | `CLIENT ID\|GETNAME\|SETNAME\|INFO\|LIST\|SETINFO\|NO-EVICT\|NO-TOUCH` | as Redis |
//! | `COMMAND ...` | an empty array (clients probe it on connect) |
//! | `SELECT 0`, `UNWATCH` | `+OK` |
//! | `CONFIG GET ...` | an empty array |
//!
//! Command names and options are case-insensitive.

use crate::shop::{Command, ValidationError, MAX_SEARCH_LIMIT};

/// What a request asks for.
///
/// # Examples
///
/// ```
/// use ringmaster::ingress::{parse_request, Request};
/// use ringmaster::shop::Command;
/// let req = parse_request(&[b"get", b"42"])?;
/// assert_eq!(req, Some(Request::Shop(Command::get(42)?)));
/// assert_eq!(parse_request(&[b"PING"])?, Some(Request::Ping(None)));
/// assert_eq!(parse_request(&[])?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// A shop command, for the ring.
    Shop(Command),
    /// `PING [message]`.
    Ping(Option<Vec<u8>>),
    /// `ECHO message`.
    Echo(Vec<u8>),
    /// `INFO`.
    Info,
    /// `QUIT`.
    Quit,
    /// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
    Hello {
        /// The protocol version asked for, if any (2 or 3 are spoken).
        version: Option<i64>,
        /// Credentials to authenticate with first.
        auth: Option<Credentials>,
        /// A connection name to set.
        name: Option<Vec<u8>>,
    },
    /// `AUTH [username] password`.
    Auth(Credentials),
    /// `MULTI`: queue the commands that follow until `EXEC`.
    Multi,
    /// `EXEC`: publish the queued commands as one transaction.
    Exec,
    /// `DISCARD`: drop the queued commands.
    Discard,
    /// `CLIENT ...`: about this connection.
    Client(ClientRequest),
    /// `COMMAND [...]` (clients probe it on connect).
    CommandInfo,
    /// `CLIENT SETINFO|NO-EVICT|NO-TOUCH ...`, `SELECT 0` and `UNWATCH`:
    /// settings clients send on connect; acknowledged, nothing to do.
    Acknowledge,
    /// `CONFIG GET ...` (`redis-benchmark` asks on start): no settings are
    /// exposed, so an empty array.
    ConfigGet,
    /// `PROMOTE` or `REPLICAOF NO ONE`: make this standby the primary.
    Promote,
}

/// `AUTH`'s or `HELLO ... AUTH`'s user name and password. `Debug` does not
/// show the password.
///
/// # Examples
///
/// ```
/// use ringmaster::ingress::{parse_request, Request};
/// let req = parse_request(&[b"AUTH", b"s3cret"])?.unwrap();
/// let Request::Auth(creds) = req else { unreachable!() };
/// assert_eq!((creds.user.as_deref(), &creds.password[..]), (None, &b"s3cret"[..]));
/// assert!(!format!("{creds:?}").contains("s3cret"));
/// # Ok::<(), ringmaster::ingress::RequestError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name, if given (only `default` exists).
    pub user: Option<Vec<u8>>,
    /// The password.
    pub password: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user.as_deref().map(String::from_utf8_lossy))
            .field("password", &"<hidden>")
            .finish()
    }
}

/// `CLIENT` subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientRequest {
    /// `CLIENT ID`: this connection's id.
    Id,
    /// `CLIENT GETNAME`: its name, or null.
    GetName,
    /// `CLIENT SETNAME name` (no spaces or newlines).
    SetName(Vec<u8>),
    /// `CLIENT INFO`: one line about this connection.
    Info,
    /// `CLIENT LIST`: the same line (only this connection is listed).
    List,
}

/// A request that is well framed but wrong: answered with `-ERR ...`, and
/// the connection stays usable.
///
/// # Examples
///
/// ```
/// use ringmaster::ingress::{parse_request, RequestError};
/// let err = parse_request(&[b"ADD", b"1", b"cheap", b"3", b"Mug"]).unwrap_err();
/// assert_eq!(err.to_string(), "ADD: price is not an integer: 'cheap'");
/// assert!(matches!(err, RequestError::NotANumber { what: "price", .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No such command.
    #[error("unknown command '{0}'")]
    Unknown(String),
    /// Wrong number of arguments.
    #[error("wrong number of arguments for '{command}' (usage: {usage})")]
    Arity {
        /// The command.
        command: &'static str,
        /// How to call it.
        usage: &'static str,
    },
    /// A number that does not parse.
    #[error("{command}: {what} is not an integer: '{value}'")]
    NotANumber {
        /// The command.
        command: &'static str,
        /// Which argument.
        what: &'static str,
        /// What was sent (lossy UTF-8, truncated).
        value: String,
    },
    /// An option that is unknown or given twice.
    #[error("{command}: unexpected argument '{value}'")]
    Syntax {
        /// The command.
        command: &'static str,
        /// The argument.
        value: String,
    },
    /// A negative id, offset, count or limit.
    #[error("{command}: {what} {value} is negative")]
    Negative {
        /// The command.
        command: &'static str,
        /// Which argument.
        what: &'static str,
        /// What was sent.
        value: i64,
    },
    /// A client name with a space, a newline or another character below
    /// `!` or above `~`.
    #[error("Client names cannot contain spaces, newlines or special characters.")]
    BadClientName,
    /// A command that is not offered (`WATCH`: transactions here are not
    /// optimistic).
    #[error("{command} is not supported: {why}")]
    Unsupported {
        /// The command.
        command: &'static str,
        /// Why, and what to do instead.
        why: &'static str,
    },
    /// A value the shop refuses (negative price, zero id, bad name, ...).
    #[error("{command}: {error}")]
    Invalid {
        /// The command.
        command: &'static str,
        /// What is wrong.
        error: ValidationError,
    },
}

fn shown(bytes: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned();
    if bytes.len() > 64 {
        s.push_str("...");
    }
    s
}

fn number(command: &'static str, what: &'static str, bytes: &[u8]) -> Result<i64, RequestError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| RequestError::NotANumber {
            command,
            what,
            value: shown(bytes),
        })
}

/// A number that must not be negative.
fn non_negative(
    command: &'static str,
    what: &'static str,
    bytes: &[u8],
) -> Result<u64, RequestError> {
    let value = number(command, what, bytes)?;
    u64::try_from(value).map_err(|_| RequestError::Negative {
        command,
        what,
        value,
    })
}

fn id(command: &'static str, bytes: &[u8]) -> Result<u64, RequestError> {
    non_negative(command, "id", bytes)
}

fn text(command: &'static str, parts: &[&[u8]]) -> Result<String, RequestError> {
    let joined = parts.join(&b' ');
    String::from_utf8(joined).map_err(|e| RequestError::Invalid {
        command,
        error: ValidationError::InvalidUtf8 {
            valid_up_to: e.utf8_error().valid_up_to(),
        },
    })
}

/// Join `parts` with single spaces and hand the text to `f`, without
/// allocating for one part or a short join (names are at most 64 bytes).
fn with_text<R>(
    command: &'static str,
    parts: &[&[u8]],
    f: impl FnOnce(&str) -> Result<R, RequestError>,
) -> Result<R, RequestError> {
    let utf8 = |bytes| {
        std::str::from_utf8(bytes).map_err(|e| RequestError::Invalid {
            command,
            error: ValidationError::InvalidUtf8 {
                valid_up_to: e.valid_up_to(),
            },
        })
    };
    if let [one] = parts {
        return f(utf8(one)?);
    }
    let len = parts
        .iter()
        .map(|p| p.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    let mut stack = [0u8; 256];
    if len > stack.len() {
        return f(&text(command, parts)?);
    }
    let mut at = 0;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            stack[at] = b' ';
            at += 1;
        }
        stack[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    f(utf8(&stack[..at])?)
}

/// `name` in ASCII upper case, in `buf` (`None` if longer than any
/// command name).
fn ascii_upper<'b>(name: &[u8], buf: &'b mut [u8; 16]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..name.len())?;
    out.copy_from_slice(name);
    out.make_ascii_uppercase();
    Some(out)
}

fn invalid(command: &'static str) -> impl Fn(ValidationError) -> RequestError {
    move |error| RequestError::Invalid { command, error }
}

/// Parse a request's arguments (`None` for an empty request).
///
/// # Errors
///
/// A [`RequestError`] naming the command and the problem.
pub fn parse_request(args: &[&[u8]]) -> Result<Option<Request>, RequestError> {
    let Some((name, rest)) = args.split_first() else {
        return Ok(None);
    };
    let mut name_buf = [0u8; 16];
    let Some(upper) = ascii_upper(name, &mut name_buf) else {
        return Err(RequestError::Unknown(shown(name)));
    };
    let arity = |command, usage, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(RequestError::Arity { command, usage })
        }
    };
    let request = match upper {
        b"PING" => {
            arity("PING", "PING [message]", rest.len() <= 1)?;
            Request::Ping(rest.first().map(|m| m.to_vec()))
        }
        b"ADD" => {
            const C: &str = "ADD";
            arity(C, "ADD id price stock name...", rest.len() >= 4)?;
            let product = id(C, rest[0])?;
            let price = number(C, "price", rest[1])?;
            let stock = number(C, "stock", rest[2])?;
            Request::Shop(with_text(C, &rest[3..], |name| {
                Command::add(product, name, price, stock).map_err(invalid(C))
            })?)
        }
        b"UPDATE" => {
            const C: &str = "UPDATE";
            const USAGE: &str = "UPDATE id [PRICE p] [STOCK s] [NAME n]";
            arity(C, USAGE, rest.len() >= 3 && rest.len() % 2 == 1)?;
            let product = id(C, rest[0])?;
            let (mut price, mut stock, mut name) = (None, None, None);
            for pair in rest[1..].chunks(2) {
                let mut key_buf = [0u8; 16];
                let (key, value) = (
                    ascii_upper(pair[0], &mut key_buf).unwrap_or_default(),
                    pair[1],
                );
                let duplicate = match key {
                    b"PRICE" => price.replace(number(C, "price", value)?).is_some(),
                    b"STOCK" => stock.replace(number(C, "stock", value)?).is_some(),
                    b"NAME" => name.replace(text(C, &[value])?).is_some(),
                    _ => true,
                };
                if duplicate {
                    return Err(RequestError::Syntax {
                        command: C,
                        value: shown(pair[0]),
                    });
                }
            }
            Request::Shop(
                Command::update(product, price, stock, name.as_deref()).map_err(invalid(C))?,
            )
        }
        b"DEL" => {
            arity("DEL", "DEL id", rest.len() == 1)?;
            Request::Shop(Command::delete(id("DEL", rest[0])?).map_err(invalid("DEL"))?)
        }
        b"GET" => {
            arity("GET", "GET id", rest.len() == 1)?;
            Request::Shop(Command::get(id("GET", rest[0])?).map_err(invalid("GET"))?)
        }
        b"LIST" => {
            const C: &str = "LIST";
            arity(C, "LIST offset count", rest.len() == 2)?;
            let offset = non_negative(C, "offset", rest[0])?;
            let count = non_negative(C, "count", rest[1])?;
            Request::Shop(Command::list(offset, count).map_err(invalid(C))?)
        }
        b"SEARCH" => {
            const C: &str = "SEARCH";
            arity(C, "SEARCH words... [LIMIT n]", !rest.is_empty())?;
            let (words, limit) = match rest {
                [words @ .., key, n] if !words.is_empty() && key.eq_ignore_ascii_case(b"LIMIT") => {
                    (words, non_negative(C, "limit", n)?)
                }
                words => (words, 10.min(u64::from(MAX_SEARCH_LIMIT))),
            };
            Request::Shop(with_text(C, words, |query| {
                Command::search(query, limit).map_err(invalid(C))
            })?)
        }
        b"COUNT" => {
            arity("COUNT", "COUNT", rest.is_empty())?;
            Request::Shop(Command::Count)
        }
        b"DIGEST" => {
            arity("DIGEST", "DIGEST", rest.is_empty())?;
            Request::Shop(Command::Digest)
        }
        b"DBSIZE" => {
            arity("DBSIZE", "DBSIZE", rest.is_empty())?;
            Request::Shop(Command::Count)
        }
        b"INFO" => Request::Info,
        b"QUIT" => Request::Quit,
        b"ECHO" => {
            arity("ECHO", "ECHO message", rest.len() == 1)?;
            Request::Echo(rest[0].to_vec())
        }
        b"HELLO" => hello(rest)?,
        b"AUTH" => {
            arity(
                "AUTH",
                "AUTH [username] password",
                matches!(rest.len(), 1 | 2),
            )?;
            Request::Auth(match rest {
                [password] => Credentials {
                    user: None,
                    password: password.to_vec(),
                },
                [user, password] => Credentials {
                    user: Some(user.to_vec()),
                    password: password.to_vec(),
                },
                _ => unreachable!("arity checked"),
            })
        }
        b"MULTI" => {
            arity("MULTI", "MULTI", rest.is_empty())?;
            Request::Multi
        }
        b"EXEC" => {
            arity("EXEC", "EXEC", rest.is_empty())?;
            Request::Exec
        }
        b"DISCARD" => {
            arity("DISCARD", "DISCARD", rest.is_empty())?;
            Request::Discard
        }
        b"WATCH" => {
            return Err(RequestError::Unsupported {
                command: "WATCH",
                why: "transactions are applied as one contiguous claim; \
                      there is no optimistic check-and-set",
            })
        }
        b"UNWATCH" => Request::Acknowledge,
        b"COMMAND" => Request::CommandInfo,
        b"CLIENT" => client(rest)?,
        b"SELECT" => {
            arity("SELECT", "SELECT 0", rest.len() == 1)?;
            if number("SELECT", "database", rest[0])? != 0 {
                return Err(RequestError::Syntax {
                    command: "SELECT",
                    value: shown(rest[0]),
                });
            }
            Request::Acknowledge
        }
        b"CONFIG" => {
            arity(
                "CONFIG",
                "CONFIG GET parameter...",
                rest.len() >= 2 && rest[0].eq_ignore_ascii_case(b"GET"),
            )?;
            Request::ConfigGet
        }
        b"PROMOTE" => {
            arity("PROMOTE", "PROMOTE", rest.is_empty())?;
            Request::Promote
        }
        b"REPLICAOF" | b"SLAVEOF" => {
            let no_one = rest.len() == 2
                && rest[0].eq_ignore_ascii_case(b"NO")
                && rest[1].eq_ignore_ascii_case(b"ONE");
            if !no_one {
                return Err(RequestError::Syntax {
                    command: "REPLICAOF",
                    value: format!(
                        "{} (only NO ONE, a promotion: standbys follow a NATS stream)",
                        shown(rest.first().copied().unwrap_or_default())
                    ),
                });
            }
            Request::Promote
        }
        _ => return Err(RequestError::Unknown(shown(name))),
    };
    Ok(Some(request))
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
fn hello(rest: &[&[u8]]) -> Result<Request, RequestError> {
    const C: &str = "HELLO";
    let Some((version, mut options)) = rest.split_first() else {
        return Ok(Request::Hello {
            version: None,
            auth: None,
            name: None,
        });
    };
    let version = Some(number(C, "protocol version", version)?);
    let (mut auth, mut name) = (None, None);
    while let Some((option, after)) = options.split_first() {
        let mut buf = [0u8; 16];
        match (ascii_upper(option, &mut buf).unwrap_or_default(), after) {
            (b"AUTH", [user, password, more @ ..]) if auth.is_none() => {
                auth = Some(Credentials {
                    user: Some(user.to_vec()),
                    password: password.to_vec(),
                });
                options = more;
            }
            (b"SETNAME", [client_name, more @ ..]) if name.is_none() => {
                name = Some(client_name_of(client_name)?);
                options = more;
            }
            _ => {
                return Err(RequestError::Syntax {
                    command: C,
                    value: shown(option),
                })
            }
        }
    }
    Ok(Request::Hello {
        version,
        auth,
        name,
    })
}

/// A client name as Redis allows them: printable ASCII without spaces.
fn client_name_of(bytes: &[u8]) -> Result<Vec<u8>, RequestError> {
    if bytes.iter().all(|&b| (b'!'..=b'~').contains(&b)) {
        Ok(bytes.to_vec())
    } else {
        Err(RequestError::BadClientName)
    }
}

/// `CLIENT subcommand ...`.
fn client(rest: &[&[u8]]) -> Result<Request, RequestError> {
    const C: &str = "CLIENT";
    const USAGE: &str = "CLIENT ID|GETNAME|SETNAME|INFO|LIST|SETINFO|NO-EVICT|NO-TOUCH ...";
    let Some((sub, args)) = rest.split_first() else {
        return Err(RequestError::Arity {
            command: C,
            usage: USAGE,
        });
    };
    let mut buf = [0u8; 16];
    let request = match (ascii_upper(sub, &mut buf).unwrap_or_default(), args) {
        (b"ID", []) => ClientRequest::Id,
        (b"GETNAME", []) => ClientRequest::GetName,
        (b"SETNAME", [name]) => ClientRequest::SetName(client_name_of(name)?),
        (b"INFO", []) => ClientRequest::Info,
        (b"LIST", _) => ClientRequest::List,
        (b"SETINFO", [_, _]) | (b"NO-EVICT" | b"NO-TOUCH", [_]) => return Ok(Request::Acknowledge),
        (b"ID" | b"GETNAME" | b"SETNAME" | b"INFO" | b"SETINFO" | b"NO-EVICT" | b"NO-TOUCH", _) => {
            return Err(RequestError::Arity {
                command: C,
                usage: USAGE,
            })
        }
        _ => {
            return Err(RequestError::Syntax {
                command: C,
                value: shown(sub),
            })
        }
    };
    Ok(Request::Client(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<Request>, RequestError> {
        let words: Vec<&[u8]> = line
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::as_bytes)
            .collect();
        parse_request(&words)
    }

    #[test]
    fn commands() {
        assert_eq!(
            parse("add 7 1999 3 Blue Cotton Shirt").unwrap(),
            Some(Request::Shop(
                Command::add(7, "Blue Cotton Shirt", 1999, 3).unwrap()
            ))
        );
        assert_eq!(
            parse("UPDATE 7 stock 0 PRICE 5").unwrap(),
            Some(Request::Shop(
                Command::update(7, Some(5), Some(0), None).unwrap()
            ))
        );
        assert_eq!(
            parse_request(&[b"UPDATE", b"7", b"NAME", b"Red Scarf"]).unwrap(),
            Some(Request::Shop(
                Command::update(7, None, None, Some("Red Scarf")).unwrap()
            ))
        );
        assert_eq!(
            parse("DEL 3").unwrap(),
            Some(Request::Shop(Command::delete(3).unwrap()))
        );
        assert_eq!(
            parse("LIST 0 20").unwrap(),
            Some(Request::Shop(Command::list(0, 20).unwrap()))
        );
        assert_eq!(
            parse("SEARCH blue sh LIMIT 5").unwrap(),
            Some(Request::Shop(Command::search("blue sh", 5).unwrap()))
        );
        assert_eq!(
            parse("search limit").unwrap(),
            Some(Request::Shop(Command::search("limit", 10).unwrap())),
            "a lone LIMIT is a word"
        );
        assert_eq!(parse("COUNT").unwrap(), Some(Request::Shop(Command::Count)));
        assert_eq!(
            parse("hello 3").unwrap(),
            Some(Request::Hello {
                version: Some(3),
                auth: None,
                name: None
            })
        );
        assert_eq!(
            parse("HELLO 3 auth default pw SETNAME app").unwrap(),
            Some(Request::Hello {
                version: Some(3),
                auth: Some(Credentials {
                    user: Some(b"default".to_vec()),
                    password: b"pw".to_vec()
                }),
                name: Some(b"app".to_vec())
            })
        );
        assert!(parse("HELLO 3 AUTH default").is_err());
        assert!(parse("HELLO 3 SETNAME a SETNAME b").is_err());
        assert_eq!(
            parse("AUTH u p").unwrap(),
            Some(Request::Auth(Credentials {
                user: Some(b"u".to_vec()),
                password: b"p".to_vec()
            }))
        );
        assert_eq!(parse("multi").unwrap(), Some(Request::Multi));
        assert_eq!(parse("EXEC").unwrap(), Some(Request::Exec));
        assert_eq!(parse("DISCARD").unwrap(), Some(Request::Discard));
        assert_eq!(
            parse("DBSIZE").unwrap(),
            Some(Request::Shop(Command::Count))
        );
        assert_eq!(
            parse("ECHO hi").unwrap(),
            Some(Request::Echo(b"hi".to_vec()))
        );
        assert_eq!(
            parse("CLIENT SETNAME app-1").unwrap(),
            Some(Request::Client(ClientRequest::SetName(b"app-1".to_vec())))
        );
        assert_eq!(
            parse_request(&[b"CLIENT", b"SETNAME", b"a b"]),
            Err(RequestError::BadClientName)
        );
        assert_eq!(
            parse("CLIENT SETINFO LIB-NAME redis-py").unwrap(),
            Some(Request::Acknowledge)
        );
        assert_eq!(
            parse("client id").unwrap(),
            Some(Request::Client(ClientRequest::Id))
        );
        assert!(parse("CLIENT KILL 1").is_err());
        assert!(parse("WATCH 1").is_err());
        assert_eq!(parse("COMMAND DOCS").unwrap(), Some(Request::CommandInfo));
        assert_eq!(parse("promote").unwrap(), Some(Request::Promote));
        assert_eq!(parse("REPLICAOF no one").unwrap(), Some(Request::Promote));
        assert!(parse("REPLICAOF 10.0.0.1 6379").is_err());
        assert_eq!(
            parse("DIGEST").unwrap(),
            Some(Request::Shop(Command::Digest))
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let e = |l: &str| parse(l).unwrap_err().to_string();
        assert_eq!(e("FROB 1"), "unknown command 'FROB'");
        assert_eq!(
            e("GET"),
            "wrong number of arguments for 'GET' (usage: GET id)"
        );
        assert_eq!(e("GET x"), "GET: id is not an integer: 'x'");
        assert_eq!(e("GET 0"), "GET: product id 0 is reserved; ids start at 1");
        assert_eq!(e("GET -4"), "GET: id -4 is negative");
        assert_eq!(e("LIST -1 5"), "LIST: offset -1 is negative");
        assert_eq!(e("SEARCH mug LIMIT -1"), "SEARCH: limit -1 is negative");
        assert_eq!(e("ADD 1 -5 1 Mug"), "ADD: price -5 is negative");
        assert_eq!(e("ADD 1 5 -1 Mug"), "ADD: stock -1 is negative");
        assert_eq!(
            e("UPDATE 1 PRICE 2 PRICE 3"),
            "UPDATE: unexpected argument 'PRICE'"
        );
        assert_eq!(e("UPDATE 1 COLOR 2"), "UPDATE: unexpected argument 'COLOR'");
        assert_eq!(
            e("LIST 0 5000"),
            "LIST: limit 5000 is out of range 1..=1000"
        );
        assert_eq!(
            e("SEARCH -- LIMIT 5"),
            "SEARCH: search query has no words (letters or digits)"
        );
        assert_eq!(
            e("SEARCH a LIMIT 500"),
            "SEARCH: limit 500 is out of range 1..=100"
        );
        assert_eq!(
            e("GET 99999999999999999999"),
            "GET: id is not an integer: '99999999999999999999'"
        );
        let bad_utf8 = parse_request(&[b"ADD", b"1", b"1", b"1", b"caf\xe9"]).unwrap_err();
        assert!(matches!(
            bad_utf8,
            RequestError::Invalid {
                error: ValidationError::InvalidUtf8 { valid_up_to: 3 },
                ..
            }
        ));
        let long = "x".repeat(65);
        assert!(e(&format!("ADD 1 1 1 {long}")).contains("65 bytes"));
    }
}
