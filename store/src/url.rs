use crate::StoreError;
use std::path::PathBuf;

/// What a store URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

pub(crate) fn parse(url: &str) -> Result<Target, StoreError> {
    let bad = |why| StoreError::BadUrl { url: redacted(url), why };
    if let Some(rest) = url.strip_prefix("sqlite:") {
        // sqlite:///abs/path and sqlite://rel are the URL spellings of sqlite:/abs/path and sqlite:rel.
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(bad("no path after sqlite:"));
        }
        return Ok(Target::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres(url.to_owned()));
    }
    Err(bad("unknown scheme"))
}

/// `url` with its password replaced by `***`, for log lines and error messages: the password of the
/// user part (`postgres://user:secret@host/db`) and a `password=` query parameter. Anything else,
/// such as `sqlite:PATH`, comes back unchanged.
pub fn redacted(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let (head, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut out = String::from(head);
    // The last '@' ends the user part: a password may itself hold an unescaped '@'.
    match authority.rfind('@') {
        Some(at) => {
            let (userinfo, hostport) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(hostport);
        }
        None => out.push_str(authority),
    }
    match tail.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elides_passwords_and_nothing_else() {
        assert_eq!(redacted("postgres://u:s3cret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redacted("postgresql://u:p@ss@h/db"), "postgresql://u:***@h/db");
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redacted("postgres://h/db?user=u&password=x&sslmode=disable"),
            "postgres://h/db?user=u&password=***&sslmode=disable"
        );
        assert_eq!(redacted("postgres://u:x@h"), "postgres://u:***@h");
        assert_eq!(redacted("sqlite:/var/lib/cliser/cliser.db"), "sqlite:/var/lib/cliser/cliser.db");
    }

    #[test]
    fn parses_both_schemes() {
        assert_eq!(parse("sqlite:a.db").unwrap(), Target::Sqlite("a.db".into()));
        assert_eq!(parse("sqlite:///x/a.db").unwrap(), Target::Sqlite("/x/a.db".into()));
        assert!(matches!(parse("postgresql://h/d").unwrap(), Target::Postgres(_)));
        assert!(matches!(parse("sqlite:"), Err(StoreError::BadUrl { .. })));
        let e = parse("mysql://u:pw@h/d").unwrap_err().to_string();
        assert!(e.contains("mysql://u:***@h/d") && !e.contains("pw"), "{e}");
    }
}
