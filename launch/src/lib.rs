//! Starting the cliser programs from another program: the demo (`cliser-demo`) and the test kit
//! (`cliser-testkit`) both run the real server and clients as child processes, and do it the same
//! way through this crate:
//!
//! - [`random_password`] and [`write_secret`]: a throwaway password in a private file;
//! - [`ProfileDir`]: finds a workspace binary in the caller's cargo target dir, building it first;
//! - [`Supervised`]: a child that never outlives its owner, whose output goes to a log file or
//!   line by line to a callback, and whose last lines can be shown when it fails;
//! - [`ReadyFile`]: waits for the server's `--ready-file` and returns its bound addresses.
//!
//! Errors are values here: the demo reports them to a person, the test kit turns them into panics.
#![deny(missing_docs)]

mod binaries;
mod child;
mod password;
mod ready;

pub use binaries::{FindError, ProfileDir, Progress};
pub use child::{Output, Supervised};
pub use password::{random_password, write_secret};
pub use ready::{Ready, ReadyError, ReadyFile};
