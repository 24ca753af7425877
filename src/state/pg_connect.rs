//! PostgreSQL connection strings as libpq reads them, so that a string that works with `psql`
//! works with flexform: `sslmode` (`disable`, `allow`, `prefer` (the default), `require`,
//! `verify-ca`, `verify-full`) with libpq's meaning, `sslrootcert` (a file, or `system` for the
//! operating system's trust store), `sslcert` and `sslkey` for client certificates, and the
//! standard `PG*` environment variables and the password file (`PGPASSFILE`, `~/.pgpass`)
//! filling in what the string leaves out. A string without a host goes through the default
//! Unix socket, where (as with libpq) no TLS is used.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::support::tls::{self, Verify};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS if the server insists (flexform: as `prefer`, without verifying).
    Allow,
    /// TLS when the server offers it, without verifying (the default).
    Prefer,
    /// TLS always; verifies the chain only when a root certificate is given.
    Require,
    /// TLS, the chain verified, not the host name.
    VerifyCa,
    /// TLS, the chain and the host name verified.
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(format!(
                    "unknown sslmode `{other}`: use disable, allow, prefer, require, verify-ca or verify-full"
                ))
            }
        })
    }

    /// As written in a connection string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// A connection string resolved: what tokio-postgres needs, and the TLS libpq would use.
pub struct Resolved {
    /// Host, port, user, password, database.
    pub config: tokio_postgres::Config,
    /// The effective `sslmode`.
    pub sslmode: SslMode,
    /// The TLS client configuration (unused with `disable`).
    pub tls: rustls::ClientConfig,
}

/// The libpq parameters tokio-postgres does not read, taken out of the string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LibpqParams {
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
}

const LIBPQ_ONLY: &[&str] = &["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// Splits the TLS parameters out of a URL (`postgres://…?sslmode=…`) or a `key=value` string;
/// the rest is for tokio-postgres.
pub(crate) fn split(text: &str) -> Result<(String, LibpqParams), String> {
    let mut params = LibpqParams::default();
    let mut take = |key: &str, value: String| match key {
        "sslmode" => params.sslmode = Some(value),
        "sslrootcert" => params.sslrootcert = Some(value),
        "sslcert" => params.sslcert = Some(value),
        "sslkey" => params.sslkey = Some(value),
        _ => {}
    };
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        // Cut the parameters out of the query text as it is: re-encoding it (or parsing the
        // URL) would break what tokio-postgres reads, such as multi-host lists or `%20`.
        let (base, query) = match text.split_once('?') {
            Some((base, query)) => (base, query),
            None => return Ok((text.to_owned(), params)),
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if LIBPQ_ONLY.contains(&key) {
                let value = percent_decode(value)
                    .ok_or_else(|| format!("the value of `{key}` is not valid percent-encoding"))?;
                take(key, value);
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, params));
    }
    let mut rest = Vec::new();
    for word in text.split_whitespace() {
        match word.split_once('=') {
            Some((k, v)) if LIBPQ_ONLY.contains(&k) => take(k, v.trim_matches('\'').to_owned()),
            _ => rest.push(word),
        }
    }
    Ok((rest.join(" "), params))
}

/// `%XX` sequences decoded (a connection string's parameter values).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Where libpq looks for the server's Unix socket when the string names no host (Debian's
/// libpq uses the first, upstream's the second); flexform looks in the first of them that
/// exists, and uses TCP to `localhost` where it holds no socket of the port.
#[cfg(unix)]
pub const DEFAULT_SOCKET_DIRS: &[&str] = &["/var/run/postgresql", "/tmp"];
/// No Unix sockets here: a string without a host means TCP to `localhost`.
#[cfg(not(unix))]
pub const DEFAULT_SOCKET_DIRS: &[&str] = &[];

/// Whether `path` is a Unix socket (not a file or folder someone put there).
#[cfg(unix)]
fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

#[cfg(not(unix))]
fn is_socket(_: &Path) -> bool {
    false
}

/// The server(s) `text` leads to once the `PG*` variables (`env`) fill what it leaves out:
/// hosts (a Unix socket folder when neither the string nor `PGHOST` names one and a socket is
/// found in `socket_dirs`), ports and database. No user, password or TLS: for messages.
pub(crate) fn locate(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    socket_dirs: &[&str],
) -> Result<(tokio_postgres::Config, LibpqParams), String> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let (rest, params) = split(text)?;
    let mut config: tokio_postgres::Config = rest.parse().map_err(|e: tokio_postgres::Error| {
        format!("{e}; expected e.g. postgres://user@host:5432/dbname?sslmode=verify-full")
    })?;
    if config.get_ports().is_empty() {
        if let Some(ports) = var("PGPORT") {
            for port in ports.split(',') {
                config.port(
                    port.trim()
                        .parse()
                        .map_err(|_| format!("PGPORT is not a port number: {ports:?}"))?,
                );
            }
        }
    }
    if config.get_hosts().is_empty() {
        match var("PGHOST") {
            // A host starting with `/` is a socket folder, as in libpq.
            Some(hosts) => {
                for host in hosts.split(',') {
                    config.host(host.trim());
                }
            }
            None => {
                let port = config.get_ports().first().copied().unwrap_or(5432);
                // Only a real socket counts, and only in the first folder that exists: where
                // the system's PostgreSQL has its folder (Debian), a socket in the
                // world-writable /tmp is not trusted to be the server.
                let socket = socket_dirs
                    .iter()
                    .find(|dir| Path::new(dir).is_dir())
                    .filter(|dir| is_socket(&Path::new(dir).join(format!(".s.PGSQL.{port}"))));
                match socket {
                    Some(dir) => config.host(*dir),
                    None => config.host("localhost"),
                };
            }
        }
    }
    if config.get_dbname().is_none() {
        if let Some(db) = var("PGDATABASE") {
            config.dbname(&db);
        }
    }
    Ok((config, params))
}

/// The servers of `config` for messages: `host 10.0.0.5:5432`, `socket
/// /var/run/postgresql/.s.PGSQL.5432`, or several, comma-separated.
pub fn describe_servers(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let mut tcp = false;
    let servers: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                tokio_postgres::config::Host::Tcp(name) => {
                    tcp = true;
                    if name.contains(':') {
                        format!("[{name}]:{port}")
                    } else {
                        format!("{name}:{port}")
                    }
                }
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(dir) => {
                    dir.join(format!(".s.PGSQL.{port}")).display().to_string()
                }
            }
        })
        .collect();
    format!(
        "{} {}",
        if tcp { "host" } else { "socket" },
        servers.join(",")
    )
}

/// Whether every server of `config` is reached by a Unix socket, where (as in libpq) TLS is
/// not used and `sslmode` does not apply.
fn only_sockets(config: &tokio_postgres::Config) -> bool {
    !config.get_hosts().is_empty()
        && config
            .get_hosts()
            .iter()
            .all(|h| !matches!(h, tokio_postgres::config::Host::Tcp(_)))
}

/// Resolves `text` with `env` standing in for the environment and `home` for the home folder.
pub fn resolve(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Resolved, String> {
    resolve_with(text, env, home, DEFAULT_SOCKET_DIRS)
}

/// [`resolve`], looking for the default socket in `socket_dirs`.
fn resolve_with(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
    socket_dirs: &[&str],
) -> Result<Resolved, String> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let (mut config, params) = locate(text, env, socket_dirs)?;
    fill_login(&mut config, &var, home)?;
    let (sslmode, rootcert) = ssl_mode(&params, &var)?;
    if only_sockets(&config) {
        // libpq uses no TLS over a Unix socket, whatever the sslmode, and reads no certificate.
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        let tls = tls::client_config(Verify::Nothing, None).map_err(|e| e.to_string())?;
        return Ok(Resolved {
            config,
            sslmode,
            tls,
        });
    }
    let verify = verification(sslmode, rootcert.as_deref(), home)?;
    let tls = client_tls(verify, &params, &var, home)?;
    config.ssl_mode(match sslmode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    Ok(Resolved {
        config,
        sslmode,
        tls,
    })
}

/// Fills the user (`PGUSER`, else `USER`) and the password (`PGPASSWORD`, else the password
/// file: `PGPASSFILE` or `~/.pgpass`) that the string leaves out. `var` reads a non-empty
/// variable.
fn fill_login(
    config: &mut tokio_postgres::Config,
    var: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<(), String> {
    if config.get_user().is_none() {
        let user = var("PGUSER")
            .or_else(|| var("USER"))
            .ok_or("no user: put it in the connection string or set PGUSER")?;
        config.user(&user);
    }
    if config.get_password().is_none() {
        let password = var("PGPASSWORD").or_else(|| {
            let file = var("PGPASSFILE")
                .map(PathBuf::from)
                .or_else(|| home.map(|h| h.join(".pgpass")))?;
            pgpass_lookup(&file, config)
        });
        if let Some(password) = password {
            config.password(password);
        }
    }
    Ok(())
}

/// The effective `sslmode` and `sslrootcert` (the string's, else `PGSSLMODE` and
/// `PGSSLROOTCERT`), with libpq's default and its rule that the system's trust goes with
/// `verify-full`.
fn ssl_mode(
    params: &LibpqParams,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<(SslMode, Option<String>), String> {
    let rootcert = params.sslrootcert.clone().or_else(|| var("PGSSLROOTCERT"));
    let sslmode = match params.sslmode.clone().or_else(|| var("PGSSLMODE")) {
        Some(mode) => SslMode::parse(&mode)?,
        // libpq: with the system's trust, the default is to verify fully.
        None if rootcert.as_deref() == Some("system") => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    if rootcert.as_deref() == Some("system")
        && !matches!(sslmode, SslMode::VerifyFull | SslMode::Disable)
    {
        return Err(format!(
            "sslrootcert=system needs sslmode=verify-full (found {}), as in libpq",
            sslmode.as_str()
        ));
    }
    Ok((sslmode, rootcert))
}

/// What the server's certificate is checked against under `sslmode`: the root certificates
/// are read only when the mode uses them.
fn verification(
    sslmode: SslMode,
    rootcert: Option<&str>,
    home: Option<&Path>,
) -> Result<Verify, String> {
    Ok(match sslmode {
        SslMode::Disable | SslMode::Allow | SslMode::Prefer => Verify::Nothing,
        // libpq: `require` with a root certificate (named, or the default
        // `~/.postgresql/root.crt`) verifies the chain, as `verify-ca` does.
        SslMode::Require => match roots(rootcert, home)? {
            Some(roots) => Verify::ChainOnly(roots),
            None => Verify::Nothing,
        },
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = roots(rootcert, home)?.ok_or_else(|| {
                format!(
                    "sslmode={} needs the CA that signed the server's certificate: add sslrootcert=/path/to/ca.pem (or sslrootcert=system for the system's trust store) to the connection string, or set PGSSLROOTCERT",
                    sslmode.as_str()
                )
            })?;
            if sslmode == SslMode::VerifyCa {
                Verify::ChainOnly(roots)
            } else {
                Verify::Full(roots)
            }
        }
    })
}

/// The root certificates `sslrootcert` names (`system`: the system's trust store), else
/// `~/.postgresql/root.crt` when it exists, else none.
fn roots(
    rootcert: Option<&str>,
    home: Option<&Path>,
) -> Result<Option<Arc<rustls::RootCertStore>>, String> {
    let default_root = home.map(|h| h.join(".postgresql/root.crt"));
    match rootcert {
        Some("system") => Ok(Some(tls::system_trust().roots.clone())),
        Some(file) => tls::roots_from_file(Path::new(file))
            .map(Some)
            .map_err(|e| e.to_string()),
        None => match default_root.as_deref().filter(|p| p.exists()) {
            Some(file) => tls::roots_from_file(file)
                .map(Some)
                .map_err(|e| e.to_string()),
            None => Ok(None),
        },
    }
}

/// The TLS client configuration: `verify` for the server, and the client certificate and
/// key (`sslcert`, `sslkey`) when there are both; errors name the files.
fn client_tls(
    verify: Verify,
    params: &LibpqParams,
    var: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<rustls::ClientConfig, String> {
    let cert = client_file(params.sslcert.as_deref(), var, "PGSSLCERT", home, "crt");
    let key = client_file(params.sslkey.as_deref(), var, "PGSSLKEY", home, "key");
    let client_files = match (&cert, &key) {
        (Some(cert), Some(key)) => Some(format!(
            "the client certificate {} and key {}",
            cert.display(),
            key.display()
        )),
        _ => None,
    };
    let client_auth = match (cert, key) {
        (Some(cert), Some(key)) => Some((
            tls::read_certificates(&cert).map_err(|e| format!("sslcert: {e}"))?,
            tls::read_private_key(&key).map_err(|e| format!("sslkey: {e}"))?,
        )),
        (Some(cert), None) => {
            return Err(format!(
                "sslcert {} is given without sslkey",
                cert.display()
            ))
        }
        _ => None,
    };
    tls::client_config(verify, client_auth).map_err(|e| match &client_files {
        // A key that is not the certificate's, or of a kind rustls cannot sign with.
        Some(files) => match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                format!("cannot use {files} (sslcert, sslkey): the key is not the certificate's")
            }
            e => format!("cannot use {files} (sslcert, sslkey): {e}"),
        },
        None => e.to_string(),
    })
}

/// A client certificate or key file: the string's, else the `variable`'s, else
/// `~/.postgresql/postgresql.{extension}` when it exists.
fn client_file(
    named: Option<&str>,
    var: &dyn Fn(&str) -> Option<String>,
    variable: &str,
    home: Option<&Path>,
    extension: &str,
) -> Option<PathBuf> {
    named
        .map(str::to_owned)
        .or_else(|| var(variable))
        .map(PathBuf::from)
        .or_else(|| {
            home.map(|h| h.join(format!(".postgresql/postgresql.{extension}")))
                .filter(|p| p.exists())
        })
}

/// The password for `config` in a `.pgpass` file: `host:port:database:user:password` lines,
/// `*` matching anything, `\:` and `\\` escaped. Like libpq, a file that others can read is
/// ignored (with a warning).
fn pgpass_lookup(file: &Path, config: &tokio_postgres::Config) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                "password file {} has group or world access; it is ignored (chmod 0600 it)",
                file.display()
            );
            return None;
        }
    }
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(_)) => "localhost".to_owned(),
        None => "localhost".to_owned(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or_default().to_owned();
    let db = config.get_dbname().unwrap_or(&user).to_owned();
    let wanted = [host, port, db, user];
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
        .find_map(|line| {
            let fields = pgpass_fields(line);
            if fields.len() != 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(&wanted)
                .all(|(field, want)| field == "*" || field == want);
            matches.then(|| fields[4].clone())
        })
}

/// The fields of a `.pgpass` line, unescaped: four fields, then the password, which (as in
/// libpq) is everything after the fourth `:`.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().expect("one field").push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn tls_parameters_are_split_out_of_urls_and_keyword_strings() {
        let (rest, params) = split(
            "postgres://u@db:5432/app?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u@db:5432/app?application_name=x");
        assert_eq!(params.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(params.sslrootcert.as_deref(), Some("/ca.pem"));
        let (rest, params) = split("host=db user=u sslmode=require").unwrap();
        assert_eq!(rest, "host=db user=u");
        assert_eq!(params.sslmode.as_deref(), Some("require"));
    }

    #[test]
    fn prefer_is_the_default_and_modes_map_as_libpq_does() {
        let r = resolve("postgres://u:p@db/app", &env(&[]), None).unwrap();
        assert_eq!(r.sslmode, SslMode::Prefer);
        let r = resolve("postgres://u:p@db/app?sslmode=require", &env(&[]), None).unwrap();
        assert_eq!(r.sslmode, SslMode::Require);
        let r = resolve(
            "postgres://u:p@db/app",
            &env(&[("PGSSLMODE", "disable")]),
            None,
        )
        .unwrap();
        assert_eq!(r.sslmode, SslMode::Disable);
        let err = resolve("postgres://u:p@db/app?sslmode=verify-full", &env(&[]), None)
            .err()
            .unwrap();
        assert!(err.contains("sslrootcert"), "{err}");
        let err = resolve("postgres://u:p@db/app?sslmode=sometimes", &env(&[]), None)
            .err()
            .unwrap();
        assert!(err.contains("unknown sslmode"), "{err}");
        let r = resolve("postgres://u:p@db/app?sslrootcert=system", &env(&[]), None).unwrap();
        assert_eq!(
            r.sslmode,
            SslMode::VerifyFull,
            "system trust means verify-full"
        );
        assert!(resolve(
            "postgres://u:p@db/app?sslrootcert=system&sslmode=require",
            &env(&[]),
            None
        )
        .is_err());
    }

    #[test]
    fn environment_variables_fill_what_the_string_leaves_out() {
        let vars = [
            ("PGHOST", "db.internal"),
            ("PGPORT", "6432"),
            ("PGUSER", "flex"),
            ("PGPASSWORD", "from-env"),
            ("PGDATABASE", "estate"),
        ];
        let r = resolve("postgres://", &env(&vars), None).unwrap();
        assert_eq!(
            r.config.get_hosts(),
            &[tokio_postgres::config::Host::Tcp("db.internal".into())]
        );
        assert_eq!(r.config.get_ports(), &[6432]);
        assert_eq!(r.config.get_user(), Some("flex"));
        assert_eq!(r.config.get_password(), Some(&b"from-env"[..]));
        assert_eq!(r.config.get_dbname(), Some("estate"));
        // The string wins over the environment.
        let r = resolve("postgres://other:pw@h/db", &env(&vars), None).unwrap();
        assert_eq!(r.config.get_user(), Some("other"));
        assert_eq!(r.config.get_password(), Some(&b"pw"[..]));
    }

    #[test]
    fn the_password_file_fills_a_missing_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:flex:wrong\ndb:5432:app:flex:pa\\:ss\nhost2:5432:app:flex:a:b:c\n*:*:*:*:fallback\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let r = resolve("postgres://flex@db/app", &env(&[]), Some(dir.path())).unwrap();
        assert_eq!(r.config.get_password(), Some(&b"pa:ss"[..]));
        let r = resolve("postgres://flex@elsewhere/app", &env(&[]), Some(dir.path())).unwrap();
        assert_eq!(r.config.get_password(), Some(&b"fallback"[..]));
        // Everything after the fourth field is the password, colons included.
        let r = resolve("postgres://flex@host2/app", &env(&[]), Some(dir.path())).unwrap();
        assert_eq!(r.config.get_password(), Some(&b"a:b:c"[..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let r = resolve("postgres://flex@db/app", &env(&[]), Some(dir.path())).unwrap();
            assert_eq!(r.config.get_password(), None, "a readable file is ignored");
        }
    }

    #[test]
    fn pg_variables_name_the_server_that_messages_describe() {
        let vars = [("PGHOST", "127.0.0.2"), ("PGPORT", "6000")];
        let (config, _) = locate("postgres:///db", &env(&vars), &[]).unwrap();
        assert_eq!(describe_servers(&config), "host 127.0.0.2:6000");
        let (config, _) = locate("postgres://h1,h2:7/db", &env(&vars), &[]).unwrap();
        assert_eq!(describe_servers(&config), "host h1:5432,h2:7");
        let (config, _) = locate("postgres://[::1]/db", &env(&[]), &[]).unwrap();
        assert_eq!(describe_servers(&config), "host [::1]:5432");
        let vars = [
            ("PGHOST", "a,b"),
            ("PGPORT", "1,2"),
            ("PGDATABASE", "estate"),
        ];
        let (config, _) = locate("postgres://", &env(&vars), &[]).unwrap();
        assert_eq!(describe_servers(&config), "host a:1,b:2");
        assert_eq!(config.get_dbname(), Some("estate"));
    }

    #[cfg(unix)]
    #[test]
    fn a_string_without_a_host_uses_the_default_unix_socket_as_libpq_does() {
        let sockets = tempfile::tempdir().unwrap();
        let _listening =
            std::os::unix::net::UnixListener::bind(sockets.path().join(".s.PGSQL.6000")).unwrap();
        // The first folder that exists is the one looked in; a missing one is skipped.
        let dirs = [
            "/nonexistent/flexform-sockets",
            sockets.path().to_str().unwrap(),
        ];
        let vars = [("PGPORT", "6000")];
        // sslmode does not apply over a socket (libpq ignores it there): no error for
        // verify-full without a root certificate, and no TLS.
        let r = resolve_with(
            "postgresql://u@/db?sslmode=verify-full",
            &env(&vars),
            None,
            &dirs,
        )
        .unwrap();
        assert_eq!(
            r.config.get_hosts(),
            &[tokio_postgres::config::Host::Unix(sockets.path().into())]
        );
        assert_eq!(
            r.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
        let (config, _) = locate("postgresql:///db", &env(&vars), &dirs).unwrap();
        assert_eq!(
            describe_servers(&config),
            format!("socket {}/.s.PGSQL.6000", sockets.path().display())
        );
        // No socket for this port: TCP to localhost.
        let (config, _) = locate("postgresql:///db", &env(&[]), &dirs).unwrap();
        assert_eq!(describe_servers(&config), "host localhost:5432");
        // A plain file is not a socket; and where the first folder exists, a socket in a
        // later one (the world-writable /tmp) is not used.
        let fake = tempfile::tempdir().unwrap();
        std::fs::write(fake.path().join(".s.PGSQL.6000"), "").unwrap();
        let vars = [("PGPORT", "6000")];
        let (config, _) = locate(
            "postgresql:///db",
            &env(&vars),
            &[fake.path().to_str().unwrap()],
        )
        .unwrap();
        assert_eq!(describe_servers(&config), "host localhost:6000");
        let (config, _) = locate(
            "postgresql:///db",
            &env(&vars),
            &[
                fake.path().to_str().unwrap(),
                sockets.path().to_str().unwrap(),
            ],
        )
        .unwrap();
        assert_eq!(describe_servers(&config), "host localhost:6000");
        // PGHOST may name a socket folder, as with libpq.
        let vars = [("PGHOST", dirs[1]), ("PGPORT", "6000")];
        let r = resolve_with("postgresql://u@/db?sslmode=require", &env(&vars), None, &[]).unwrap();
        assert_eq!(
            r.config.get_hosts(),
            &[tokio_postgres::config::Host::Unix(sockets.path().into())]
        );
    }

    #[test]
    fn client_certificate_errors_name_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["u".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert_file = dir.path().join("client.pem");
        let key_file = dir.path().join("client.key");
        let other_key_file = dir.path().join("other.key");
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&other_key_file, other.serialize_pem()).unwrap();
        let url = |key: &Path| {
            format!(
                "postgres://u:p@db/app?sslcert={}&sslkey={}",
                cert_file.display(),
                key.display()
            )
        };
        assert!(resolve(&url(&key_file), &env(&[]), None).is_ok());
        let err = resolve(&url(&dir.path().join("missing.key")), &env(&[]), None)
            .err()
            .unwrap();
        assert!(
            err.contains("sslkey") && err.contains("missing.key"),
            "{err}"
        );
        let err = resolve(&url(&cert_file), &env(&[]), None).err().unwrap();
        assert!(
            err.contains("client.pem") && err.contains("no usable PEM private key"),
            "{err}"
        );
        let err = resolve(&url(&other_key_file), &env(&[]), None)
            .err()
            .unwrap();
        assert!(
            err.contains("client.pem")
                && err.contains("other.key")
                && err.contains("the key is not the certificate's"),
            "a key that is not the certificate's: {err}"
        );
    }
}
