//! `cassandra://[user[:password]@]host[:port][,host[:port]…]/KEYSPACE[?options]`
//! parsed into what the driver needs. Kept free of I/O so that the fuzz
//! target (fuzz/fuzz_targets/cassandra_url.rs) can run it on any input.
//!
//! Options (all optional):
//! - `dc`: the local data centre (load balancing prefers its nodes; the
//!   `LOCAL_*` consistency levels count replicas there);
//! - `consistency`: reads and writes (default `local_quorum`);
//! - `serial_consistency`: lightweight transactions (default `local_serial`);
//! - `replication`: for the keyspace `migrate` creates: a replication factor
//!   (`3`) or per data centre (`dc1:3,dc2:3`); default: the number of nodes
//!   of the cluster, at most 3;
//! - `tls`: `true` to connect with TLS (system roots unless `tls_ca`);
//! - `tls_ca`: a PEM file of CA certificates to trust (implies `tls`);
//! - `username`, `password`: instead of the userinfo part.

use std::fmt;

/// Longest URL accepted: far above any real one, so a mistake cannot make
/// the parser (or a log line) handle megabytes.
const MAX_URL: usize = 4096;
/// Cassandra's own limit on a keyspace name.
const MAX_KEYSPACE: usize = 48;
const MAX_HOSTS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Any,
    One,
    Two,
    Three,
    Quorum,
    All,
    LocalQuorum,
    EachQuorum,
    LocalOne,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serial {
    Serial,
    LocalSerial,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// Up to 3, as many as the cluster has nodes when the keyspace is made.
    Auto,
    Factor(u32),
    PerDc(Vec<(String, u32)>),
}

#[derive(Clone, PartialEq, Eq)]
pub struct CassandraUrl {
    /// `host:port` contact points (IPv6 in brackets).
    pub hosts: Vec<String>,
    pub keyspace: String,
    pub dc: Option<String>,
    pub consistency: Level,
    pub serial_consistency: Serial,
    pub replication: Replication,
    pub tls: bool,
    pub tls_ca: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

// Never prints the password.
impl fmt::Debug for CassandraUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CassandraUrl")
            .field("hosts", &self.hosts)
            .field("keyspace", &self.keyspace)
            .field("dc", &self.dc)
            .field("consistency", &self.consistency)
            .field("serial_consistency", &self.serial_consistency)
            .field("replication", &self.replication)
            .field("tls", &self.tls)
            .field("tls_ca", &self.tls_ca)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

pub fn is_cassandra(url: &str) -> bool {
    url.starts_with("cassandra://")
}

fn level(v: &str) -> Result<Level, String> {
    Ok(match v.to_ascii_lowercase().as_str() {
        "any" => Level::Any,
        "one" => Level::One,
        "two" => Level::Two,
        "three" => Level::Three,
        "quorum" => Level::Quorum,
        "all" => Level::All,
        "local_quorum" => Level::LocalQuorum,
        "each_quorum" => Level::EachQuorum,
        "local_one" => Level::LocalOne,
        _ => {
            return Err(format!(
                "consistency {v:?}: one of any, one, two, three, quorum, all, local_quorum, each_quorum, local_one"
            ))
        }
    })
}

/// Percent-decoding of one URL component (userinfo, option values).
fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "a % not followed by two hex digits".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-encoding that is not UTF-8".to_string())
}

fn identifier_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_KEYSPACE
        && s.as_bytes()[0].is_ascii_alphabetic()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn dc_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 200 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

fn host(h: &str) -> Result<String, String> {
    let (name, port) = if let Some(rest) = h.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or("an IPv6 host without its closing ]")?;
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{ip:?} is not an IPv6 address"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("unexpected {after:?} after an IPv6 host")),
        };
        (format!("[{ip}]"), port)
    } else {
        match h.rsplit_once(':') {
            Some((n, p)) => (n.to_string(), Some(p)),
            None => (h.to_string(), None),
        }
    };
    if name.is_empty()
        || name.len() > 253
        || !(name.starts_with('[') || name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b)))
    {
        return Err(format!("{h:?} is not a host name or address"));
    }
    let port: u16 = match port {
        None => 9042,
        Some(p) => match p.parse() {
            Ok(n) if n > 0 && !p.starts_with('+') => n,
            _ => return Err(format!("port {p:?} is not a number from 1 to 65535")),
        },
    };
    Ok(format!("{name}:{port}"))
}

fn replication(v: &str) -> Result<Replication, String> {
    let factor = |s: &str| match s.parse::<u32>() {
        Ok(n) if (1..=20).contains(&n) && !s.starts_with('+') => Ok(n),
        _ => Err(format!("replication factor {s:?}: a number from 1 to 20")),
    };
    if !v.contains(':') {
        return factor(v).map(Replication::Factor);
    }
    let mut dcs = Vec::new();
    for part in v.split(',') {
        let (dc, n) = part
            .split_once(':')
            .ok_or_else(|| format!("replication {part:?}: DC:FACTOR"))?;
        if !dc_ok(dc) {
            return Err(format!("replication: {dc:?} is not a data centre name"));
        }
        if dcs.iter().any(|(d, _)| d == dc) {
            return Err(format!("replication: data centre {dc:?} named twice"));
        }
        dcs.push((dc.to_string(), factor(n)?));
    }
    if dcs.len() > 32 {
        return Err("replication: at most 32 data centres".into());
    }
    Ok(Replication::PerDc(dcs))
}

impl CassandraUrl {
    pub fn parse(url: &str) -> Result<CassandraUrl, String> {
        if url.len() > MAX_URL {
            return Err(format!("longer than {MAX_URL} characters"));
        }
        let rest = url
            .strip_prefix("cassandra://")
            .ok_or("does not start with cassandra://")?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, keyspace) = rest
            .split_once('/')
            .ok_or("no keyspace: cassandra://HOST:PORT/KEYSPACE")?;
        if !identifier_ok(keyspace) {
            return Err(format!(
                "keyspace {keyspace:?}: a letter, then letters, digits or _ (at most {MAX_KEYSPACE})"
            ));
        }
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let mut username = None;
        let mut password = None;
        if let Some(u) = userinfo {
            let (user, pass) = match u.split_once(':') {
                Some((a, b)) => (a, Some(b)),
                None => (u, None),
            };
            username = Some(decode(user).map_err(|e| format!("user name: {e}"))?);
            password = pass.map(decode).transpose().map_err(|e| format!("password: {e}"))?;
        }
        if hosts.is_empty() {
            return Err("no host: cassandra://HOST:PORT/KEYSPACE".into());
        }
        let hosts: Vec<String> = hosts.split(',').map(host).collect::<Result<_, _>>()?;
        if hosts.len() > MAX_HOSTS {
            return Err(format!("at most {MAX_HOSTS} contact points"));
        }
        let mut u = CassandraUrl {
            hosts,
            keyspace: keyspace.to_string(),
            dc: None,
            consistency: Level::LocalQuorum,
            serial_consistency: Serial::LocalSerial,
            replication: Replication::Auto,
            tls: false,
            tls_ca: None,
            username,
            password,
        };
        let mut seen: Vec<String> = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(v).map_err(|e| format!("option {k}: {e}"))?;
            if seen.iter().any(|s| s == k) {
                return Err(format!("option {k} given twice"));
            }
            seen.push(k.to_string());
            match k {
                "dc" => {
                    if !dc_ok(&v) {
                        return Err(format!("dc {v:?} is not a data centre name"));
                    }
                    u.dc = Some(v);
                }
                "consistency" => u.consistency = level(&v)?,
                "serial_consistency" => {
                    u.serial_consistency = match v.to_ascii_lowercase().as_str() {
                        "serial" => Serial::Serial,
                        "local_serial" => Serial::LocalSerial,
                        _ => return Err(format!("serial_consistency {v:?}: serial or local_serial")),
                    }
                }
                "replication" => u.replication = replication(&v)?,
                "tls" => {
                    u.tls = match v.as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(format!("tls {v:?}: true or false")),
                    }
                }
                "tls_ca" => {
                    if v.is_empty() {
                        return Err("tls_ca: a path to a PEM file".into());
                    }
                    u.tls_ca = Some(v);
                }
                "username" if u.username.is_none() => u.username = Some(v),
                "password" if u.password.is_none() => u.password = Some(v),
                "username" | "password" => return Err(format!("{k} given in the URL's user part and as an option")),
                _ => {
                    return Err(format!(
                        "unknown option {k:?} (dc, consistency, serial_consistency, replication, tls, tls_ca, username, password)"
                    ))
                }
            }
        }
        if u.tls_ca.is_some() {
            u.tls = true;
        }
        if u.password.is_some() && u.username.is_none() {
            return Err("a password without a user name".into());
        }
        if let (Some(dc), Replication::PerDc(dcs)) = (&u.dc, &u.replication) {
            if !dcs.iter().any(|(d, _)| d == dc) {
                return Err(format!("replication names no replicas in the local dc {dc:?}"));
            }
        }
        Ok(u)
    }
}

/// The URL with its password replaced (for logs and errors).
pub fn redact(url: &str) -> String {
    let Some(rest) = url.strip_prefix("cassandra://") else {
        return url.to_string();
    };
    let mut out = String::from("cassandra://");
    let (auth, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    match auth.rsplit_once('@') {
        Some((user, hosts)) => {
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            out.push_str(&format!("{user}:***@{hosts}"));
        }
        None => out.push_str(auth),
    }
    // A password given as an option.
    match tail.split_once('?') {
        Some((path, q)) => {
            let q: Vec<String> = q
                .split('&')
                .map(|p| {
                    if p.starts_with("password=") {
                        "password=***".to_string()
                    } else {
                        p.to_string()
                    }
                })
                .collect();
            out.push_str(&format!("{path}?{}", q.join("&")));
        }
        None => out.push_str(tail),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_parses() {
        let u = CassandraUrl::parse("cassandra://h1:9042,h2:9042/gatehouse?dc=datacenter1&consistency=local_quorum")
            .unwrap();
        assert_eq!(u.hosts, ["h1:9042", "h2:9042"]);
        assert_eq!(u.keyspace, "gatehouse");
        assert_eq!(u.dc.as_deref(), Some("datacenter1"));
        assert_eq!(u.consistency, Level::LocalQuorum);
        assert_eq!(u.serial_consistency, Serial::LocalSerial);
        assert_eq!(u.replication, Replication::Auto);
        assert!(!u.tls);
    }

    #[test]
    fn every_option() {
        let u = CassandraUrl::parse(
            "cassandra://app:p%40ss@[::1],10.0.0.2:9142/ks_1?consistency=QUORUM&serial_consistency=serial\
             &replication=dc1:3,dc2:2&dc=dc1&tls_ca=/etc/ca.pem",
        )
        .unwrap();
        assert_eq!(u.hosts, ["[::1]:9042", "10.0.0.2:9142"]);
        assert_eq!(
            (u.username.as_deref(), u.password.as_deref()),
            (Some("app"), Some("p@ss"))
        );
        assert_eq!(u.consistency, Level::Quorum);
        assert_eq!(u.serial_consistency, Serial::Serial);
        assert_eq!(
            u.replication,
            Replication::PerDc(vec![("dc1".into(), 3), ("dc2".into(), 2)])
        );
        assert!(u.tls);
        assert!(!format!("{u:?}").contains("p@ss"));
        let u = CassandraUrl::parse("cassandra://h/ks?username=a&password=b&replication=1&tls=true").unwrap();
        assert_eq!((u.username.as_deref(), u.password.as_deref()), (Some("a"), Some("b")));
        assert_eq!(u.replication, Replication::Factor(1));
    }

    #[test]
    fn mistakes_are_named() {
        for (url, needle) in [
            ("postgres://h/ks", "cassandra://"),
            ("cassandra://h", "no keyspace"),
            ("cassandra:///ks", "no host"),
            ("cassandra://h/1ks", "keyspace"),
            ("cassandra://h/ks;drop", "keyspace"),
            ("cassandra://h:0/ks", "port"),
            ("cassandra://h:99999/ks", "port"),
            ("cassandra://h/ks?consistency=serial", "consistency"),
            ("cassandra://h/ks?serial_consistency=one", "serial_consistency"),
            ("cassandra://h/ks?nope=1", "unknown option"),
            ("cassandra://h/ks?dc=a&dc=b", "twice"),
            ("cassandra://h/ks?replication=0", "replication"),
            ("cassandra://h/ks?replication=dc1:3&dc=dc2", "local dc"),
            ("cassandra://h/ks?password=x", "without a user"),
            ("cassandra://[zz]/ks", "IPv6"),
            ("cassandra://u%zz@h/ks", "hex"),
        ] {
            let e = CassandraUrl::parse(url).unwrap_err();
            assert!(e.contains(needle), "{url}: {e}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("cassandra://app:s3cret@h1,h2/ks?dc=x&password=p2"),
            "cassandra://app:***@h1,h2/ks?dc=x&password=***"
        );
        assert_eq!(redact("cassandra://h1/ks"), "cassandra://h1/ks");
    }
}
