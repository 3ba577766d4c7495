//! Per-client credentials: the tokens `add-client` makes, their argon2 hashes, and the check of a
//! client's password line against the clients file in force.
//!
//! The rule (with a clients file): an id listed in the file accepts only its own token; an id not
//! listed accepts the fleet password if one is configured; anything else is refused.
//!
//! Argon2 is slow and memory-hungry by design (19 MiB and tens of milliseconds per check with the
//! defaults), so checks run on the session threads, never on the Manager's, and at most one per CPU
//! at a time: a fleet reconnecting at once after a restart queues for the CPUs instead of asking
//! for gigabytes.

use crate::auth::brake::Secret;
use crate::auth::clients_file::{self, Entry, FileError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use cliser_protocol::ClientId;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::time::Instant;

/// Random bytes in a token: 192 bits, well past the 128 that make guessing hopeless.
const TOKEN_BYTES: usize = 24;

/// A fresh token from the operating system's random source, as 48 hex digits.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::getrandom(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The argon2id hash (PHC string, argon2's default parameters: 19 MiB, 2 passes) of `token`, with
/// a random salt.
pub fn hash_token(token: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(HashError::NoSalt)?;
    let salt = SaltString::encode_b64(&salt).map_err(HashError::Argon2)?;
    let hash = Argon2::default().hash_password(token.as_bytes(), &salt).map_err(HashError::Argon2)?;
    Ok(hash.to_string())
}

/// Why a token could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The system gave no random bytes for the salt.
    #[error("no random salt: {0}")]
    NoSalt(getrandom::Error),
    /// argon2 refused the salt or the hashing.
    #[error("{0}")]
    Argon2(argon2::password_hash::Error),
}

/// Whether `token` matches `hash` (whose own parameters say how to check it).
fn verify(hash: &str, token: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(token.as_bytes(), &h).is_ok())
}

/// What a client proved in its handshake; the Manager keeps it with the registered session, and a
/// reload closes the sessions whose proof no longer holds.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Its own token, matching this hash.
    Token(Arc<str>),
    /// The fleet password (an id not listed in the clients file).
    Fleet,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Token(_) => "Token(..)",
            Credential::Fleet => "Fleet",
        })
    }
}

/// The clients file's entries, by id.
#[derive(Default)]
pub struct Table(HashMap<ClientId, Arc<str>>);

impl Table {
    fn from_entries(entries: Vec<Entry>) -> Table {
        Table(entries.into_iter().map(|e| (e.id, e.hash)).collect())
    }

    /// How many ids are listed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no id is listed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `credential` still proves `cid` under this table: its token's hash is unchanged, or
    /// it used the fleet password and the id is still not listed.
    pub fn still_holds(&self, cid: &ClientId, credential: &Credential) -> bool {
        match (self.0.get(cid), credential) {
            (Some(now), Credential::Token(then)) => now == then,
            (None, Credential::Fleet) => true,
            _ => false,
        }
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Table({} clients)", self.0.len())
    }
}

/// At most `n` argon2 checks at once.
#[derive(Debug)]
struct Gate {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Gate {
    /// Runs `f` once a place is free, unless `deadline` passes first (`None`).
    fn run<T>(&self, deadline: Instant, f: impl FnOnce() -> T) -> Option<T> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            let left = deadline.checked_duration_since(Instant::now())?;
            free = self.freed.wait_timeout(free, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        *free -= 1;
        drop(free);
        // Given back even if `f` panics: a session's panic must not shrink the gate for good.
        struct Release<'a>(&'a Gate);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        Some(f())
    }
}

/// The verdict on a password line.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let in, with what it proved.
    Accepted(Credential),
    /// Wrong: 111.
    Refused,
    /// The auth deadline passed while waiting for a free CPU.
    TimedOut,
}

/// A hash of a random token: what an unlisted id that fails is checked against, so that a refusal
/// costs the same time for a listed id and an unlisted one (the time tells no one which ids exist).
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let token = new_token().unwrap_or_else(|_| "decoy".into());
        hash_token(&token).unwrap_or_default()
    })
}

/// The clients file in force, shared by the sessions (which check against it), the Manager (which
/// checks a registration against it, and closes sessions a reload revoked) and the server thread
/// (which reloads it). Cheap to clone. It may be off (no clients file): a reload that adds
/// `clients-file` to the config turns it on for every holder at once.
#[derive(Debug, Clone)]
pub struct SharedClients {
    in_force: Arc<RwLock<InForce>>,
    gate: Arc<Gate>,
}

/// The file in force (none: off) and what it lists.
#[derive(Debug, Default)]
struct InForce {
    path: Option<PathBuf>,
    table: Arc<Table>,
}

impl SharedClients {
    /// No clients file: every id logs in with the fleet password.
    pub fn off() -> SharedClients {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        SharedClients {
            in_force: Arc::new(RwLock::new(InForce::default())),
            gate: Arc::new(Gate { free: Mutex::new(cpus), freed: Condvar::new() }),
        }
    }

    /// Reads the clients file at `path`.
    pub fn load(path: &Path) -> Result<SharedClients, FileError> {
        let clients = SharedClients::off();
        clients.switch_to(path)?;
        Ok(clients)
    }

    /// Whether a clients file is in force.
    pub fn is_on(&self) -> bool {
        self.lock().path.is_some()
    }

    /// Where the file in force is; `None` when off.
    pub fn path(&self) -> Option<PathBuf> {
        self.lock().path.clone()
    }

    /// The table now (one lock to clone an `Arc`); empty when off.
    pub fn get(&self) -> Arc<Table> {
        self.lock().table.clone()
    }

    /// Reads the file in force again and puts it in force; a broken file changes nothing. Returns
    /// how many ids it lists (0 when off).
    pub fn reload(&self) -> Result<usize, FileError> {
        match self.path() {
            Some(path) => self.switch_to(&path),
            None => Ok(0),
        }
    }

    /// Reads the clients file at `path` and puts it in force in place of the one in force (or of
    /// none); a broken file changes nothing. Returns how many ids it lists.
    pub fn switch_to(&self, path: &Path) -> Result<usize, FileError> {
        let table = Table::from_entries(clients_file::load(path)?);
        let n = table.len();
        *self.in_force.write().unwrap_or_else(|e| e.into_inner()) =
            InForce { path: Some(path.to_owned()), table: Arc::new(table) };
        Ok(n)
    }

    fn lock(&self) -> std::sync::RwLockReadGuard<'_, InForce> {
        self.in_force.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks the password line a client sent with the id it gave (`None`: not a valid id), on the
    /// caller's thread. Argon2 runs only once a CPU is free, and not past `deadline`.
    pub fn check(
        &self,
        cid: Option<&ClientId>,
        password: &str,
        fleet: Option<&Secret>,
        deadline: Instant,
    ) -> Verdict {
        let table = self.get();
        let listed = cid.and_then(|c| table.0.get(c)).cloned();
        if listed.is_none() && fleet.is_some_and(|f| f.matches(password)) {
            return Verdict::Accepted(Credential::Fleet);
        }
        let against = listed.clone().unwrap_or_else(|| decoy().into());
        match self.gate.run(deadline, || verify(&against, password)) {
            None => Verdict::TimedOut,
            Some(true) if listed.is_some() => Verdict::Accepted(Credential::Token(against)),
            Some(_) => Verdict::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn file_with(dir: &Path, entries: &[(&str, &str)]) -> PathBuf {
        let path = dir.join("clients.toml");
        let text: String = entries
            .iter()
            .map(|(id, token)| {
                clients_file::entry_line(&ClientId::new(id).unwrap(), &hash_token(token).unwrap()) + "\n"
            })
            .collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn id(s: &str) -> ClientId {
        ClientId::new(s).unwrap()
    }

    #[test]
    fn tokens_are_long_random_hex() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 48);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_listed_id_takes_only_its_token_and_unlisted_ids_the_fleet_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with(dir.path(), &[("pi-1", "token-one"), ("pi-2", "token-two")]);
        let c = SharedClients::load(&path).unwrap();
        let fleet = Secret::new("fleet".into());
        let later = Instant::now() + Duration::from_secs(30);
        let ok = |v: &Verdict| matches!(v, Verdict::Accepted(Credential::Token(_)));
        assert!(ok(&c.check(Some(&id("pi-1")), "token-one", Some(&fleet), later)));
        assert_eq!(c.check(Some(&id("pi-1")), "token-two", Some(&fleet), later), Verdict::Refused);
        assert_eq!(c.check(Some(&id("pi-1")), "fleet", Some(&fleet), later), Verdict::Refused);
        assert_eq!(
            c.check(Some(&id("pi-9")), "fleet", Some(&fleet), later),
            Verdict::Accepted(Credential::Fleet)
        );
        assert_eq!(c.check(None, "fleet", Some(&fleet), later), Verdict::Accepted(Credential::Fleet));
        assert_eq!(c.check(Some(&id("pi-9")), "token-one", Some(&fleet), later), Verdict::Refused);
        assert_eq!(c.check(Some(&id("pi-9")), "fleet", None, later), Verdict::Refused);
        let past = Instant::now() - Duration::from_millis(1);
        // A place is free: a check already late still runs (the session's own deadline ends it).
        assert!(ok(&c.check(Some(&id("pi-1")), "token-one", None, past)));
    }

    #[test]
    fn a_reload_keeps_unchanged_proofs_and_revokes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with(dir.path(), &[("pi-1", "one"), ("pi-2", "two")]);
        let c = SharedClients::load(&path).unwrap();
        let later = Instant::now() + Duration::from_secs(30);
        let Verdict::Accepted(one) = c.check(Some(&id("pi-1")), "one", None, later) else { panic!() };
        let Verdict::Accepted(two) = c.check(Some(&id("pi-2")), "two", None, later) else { panic!() };
        // pi-2 removed, pi-3 listed: the file rewritten keeps pi-1's line as it was.
        let text = std::fs::read_to_string(&path).unwrap();
        let pi1 = text.lines().next().unwrap();
        let pi3 = clients_file::entry_line(&id("pi-3"), &hash_token("three").unwrap());
        std::fs::write(&path, format!("{pi1}\n{pi3}\n")).unwrap();
        assert_eq!(c.reload().unwrap(), 2);
        let t = c.get();
        assert!(t.still_holds(&id("pi-1"), &one));
        assert!(!t.still_holds(&id("pi-2"), &two));
        assert!(!t.still_holds(&id("pi-3"), &Credential::Fleet), "pi-3 now needs its token");
        assert!(t.still_holds(&id("pi-9"), &Credential::Fleet));
        std::fs::write(&path, "pi-1 = broken\n").unwrap();
        assert!(c.reload().unwrap_err().to_string().contains("line 1"));
        assert_eq!(c.get().len(), 2, "a broken file changes nothing");
    }

    #[test]
    fn a_check_fits_in_a_connection_threads_stack() {
        let hash = hash_token("t").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let body = move || tx.send(verify(&hash, "t")).unwrap();
        crate::link::small_thread::spawn_detached("session-test", crate::link::conn::CONN_THREAD_STACK, body)
            .unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(true));
    }

    #[test]
    fn the_gate_lets_one_per_place_through_and_gives_up_at_the_deadline() {
        let gate = Arc::new(Gate { free: Mutex::new(1), freed: Condvar::new() });
        let (inside_tx, inside_rx) = std::sync::mpsc::channel();
        let (leave_tx, leave_rx) = std::sync::mpsc::channel::<()>();
        let g = gate.clone();
        let holder = std::thread::spawn(move || {
            g.run(Instant::now() + Duration::from_secs(10), || {
                inside_tx.send(()).unwrap();
                leave_rx.recv().unwrap();
            })
        });
        inside_rx.recv().unwrap();
        assert_eq!(gate.run(Instant::now() + Duration::from_millis(50), || ()), None);
        leave_tx.send(()).unwrap();
        assert_eq!(holder.join().unwrap(), Some(()));
        assert_eq!(gate.run(Instant::now() + Duration::from_secs(10), || 7), Some(7));
    }

    #[test]
    fn clients_off_take_a_file_named_later_and_every_clone_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with(dir.path(), &[("pi-1", "token-one")]);
        let off = SharedClients::off();
        let held = off.clone();
        assert!(!held.is_on() && held.path().is_none() && held.get().is_empty());
        assert_eq!(off.reload().unwrap(), 0, "nothing to read while off");
        assert_eq!(off.switch_to(&path).unwrap(), 1);
        assert!(held.is_on() && held.path().as_deref() == Some(path.as_path()));
        let later = Instant::now() + Duration::from_secs(30);
        assert!(matches!(
            held.check(Some(&id("pi-1")), "token-one", None, later),
            Verdict::Accepted(Credential::Token(_))
        ));
        assert!(off.switch_to(&dir.path().join("none.toml")).is_err());
        assert_eq!(
            held.path().as_deref(),
            Some(path.as_path()),
            "a file that cannot be read changes nothing"
        );
    }
}
