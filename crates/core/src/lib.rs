//! The domain, as components that own their state and talk through narrow
//! interfaces:
//!
//! - [`identity`]: accounts, access keys, IAM, STS sessions, authorization and
//!   its caches; the only builder of the `Grant` every handler takes;
//! - [`secrets`]: the Secrets Manager operations, the sweeper, last-accessed dates;
//! - [`rotation`]: the rotation engine and its functions;
//! - [`audit`]: the trail; `outbox`: change events and the follower that keeps
//!   caches true to what any server committed; [`keyring`]: the key hierarchy.
//!
//! [`Service`] wires them together and is what the HTTP layer calls: a typed
//! operation (or a name and a body) and an authenticated [`Caller`] in, an
//! answer or an AWS error out. Each mutating operation is one store transaction
//! carrying its audit record and change event; reads and failures are audited
//! through the audit file.

pub mod arn;
mod attrs;
pub mod audit;
pub mod audit_head;
mod audit_ship;
mod background;
pub mod bus;
mod call;
pub mod clock;
pub mod context;
mod errors;
pub mod events;
pub mod functions;
pub(crate) mod http;
pub mod identity;
pub mod ids;
pub mod keyring;
pub mod kms;
pub mod labels;
mod outbox;
pub mod password;
pub mod query;
pub mod root_watch;
pub mod rotation;
pub mod schedule;
pub mod secrets;
mod service;
mod tls_pin;
pub mod trail;

pub use audit::RejectedCall;
pub use clock::{Clock, ManualClock, SystemClock};
/// The store behind a service (`Service::store`), for the server's own
/// fleet-wide records (console sessions).
pub use coffer_store::Store;
pub use context::{Caller, Credential, Session};
pub use query::QueryService;
pub use service::{Service, ServiceOptions};
