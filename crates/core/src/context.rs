//! Who is calling, from where, in which region: filled in by the HTTP layer after
//! SigV4 verification.

use crate::session::Session;
use coffer_store::Scope;
use std::sync::Arc;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
    pub principal_arn: String,
    pub access_key_id: String,
    /// The region of the request's SigV4 credential scope.
    pub region: String,
    pub source_ip: String,
    pub user_agent: String,
    pub request_id: String,
    /// Set when the caller signed with temporary credentials.
    pub session: Option<Arc<Session>>,
    /// The service itself (the sweeper, rotation), acting within one account; never
    /// set for a request.
    pub internal: bool,
}

impl Caller {
    pub fn scope(&self) -> Scope {
        Scope {
            account_id: self.account_id.clone(),
            region: self.region.clone(),
        }
    }
}
