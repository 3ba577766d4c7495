//! The exit codes every binary uses, as the README's table says: 0 ok, 1 runtime failure, 2 bad
//! settings (fixing the command line or the config file is what helps; retrying does not).

use std::process::ExitCode;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Finished or stopped as asked: 0.
    Ok,
    /// Something failed while running (a port taken, a disk gone, a thread panicked): 1.
    Runtime,
    /// The settings cannot work (a missing password, a bad address, an invalid value): 2.
    BadSettings,
}

impl Outcome {
    /// The process status.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Runtime => 1,
            Outcome::BadSettings => 2,
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(o.code())
    }
}

/// Errors that know which exit status they mean.
pub trait Classify {
    /// The outcome this error stands for.
    fn outcome(&self) -> Outcome;
}

/// Logs `err` as an ERROR and returns its exit code.
pub fn fail<E: Classify + std::fmt::Display>(err: &E) -> ExitCode {
    log::error!("{err}");
    err.outcome().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_readmes() {
        assert_eq!(Outcome::Ok.code(), 0);
        assert_eq!(Outcome::Runtime.code(), 1);
        assert_eq!(Outcome::BadSettings.code(), 2);
    }
}
