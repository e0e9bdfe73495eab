//! The entry point for the Query-protocol services (IAM and STS): authorize, run,
//! audit.

use crate::audit;
use crate::context::Caller;
use crate::iam::{self, wire::Node, wire::Params};
use crate::service::Service;
use crate::sts;
use coffer_api::{ApiError, ErrorCode};
use serde_json::{Map, Value};

/// Which Query service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryService {
    Iam,
    Sts,
}

impl QueryService {
    pub fn knows(self, action: &str) -> bool {
        match self {
            QueryService::Iam => iam::ACTIONS.contains(&action),
            QueryService::Sts => sts::ACTIONS.contains(&action),
        }
    }
}

/// Parameters that must not reach the audit log.
const SENSITIVE: &[&str] = &["PolicyDocument", "AssumeRolePolicyDocument", "Policy"];

impl Service {
    /// Runs one IAM or STS action; the result elements go inside `<ActionResult>`.
    pub async fn call_query(
        &self,
        caller: &Caller,
        service: QueryService,
        action: &str,
        p: &Params,
    ) -> Result<Vec<Node>, ApiError> {
        if !service.knows(action) {
            return Err(match service {
                QueryService::Iam => iam::unknown_action(action),
                QueryService::Sts => sts::unknown_action(action),
            });
        }
        let result = match service {
            QueryService::Iam => self.iam_call(caller, action, p).await,
            // GetCallerIdentity and GetSessionToken need no permission (as in AWS);
            // AssumeRole is authorized against the role's trust policy.
            QueryService::Sts => self.sts_dispatch(caller, action, p).await,
        };
        let params: Map<String, Value> =
            p.0.iter()
                .filter(|(k, _)| !SENSITIVE.contains(&k.as_str()))
                .map(|(k, v)| (crate::audit::lower_first(k), Value::String(v.clone())))
                .collect();
        let read_only = action.starts_with("Get") || action.starts_with("List");
        let rec = audit::record(
            caller,
            action,
            self.clock.now_ms(),
            Value::Object(params),
            result.as_ref().err(),
            read_only,
        );
        self.audit.append(rec).await?;
        result
    }

    async fn iam_call(
        &self,
        caller: &Caller,
        action: &str,
        p: &Params,
    ) -> Result<Vec<Node>, ApiError> {
        let id = self.identity(caller).await?;
        let mut ctx = self.base_context(caller, &id);
        let tags = p.tags("Tags")?;
        for (k, v) in &tags {
            ctx.set(&format!("aws:RequestTag/{k}"), v.clone());
        }
        if !tags.is_empty() {
            ctx.set_many("aws:TagKeys", tags.iter().map(|(k, _)| k.clone()).collect());
        }
        let resource = iam::action_resource(&caller.account_id, action, p);
        self.decide(
            &id,
            &format!("iam:{action}"),
            &resource,
            &caller.account_id,
            None,
            &ctx,
            ErrorCode::AccessDenied,
        )?;
        self.iam_dispatch(caller, action, p).await
    }
}
