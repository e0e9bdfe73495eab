//! The one path every IAM and STS call takes: parse the typed operation, refuse
//! what is not served, authorize, dispatch with the proof, audit what ran.

use crate::audit;
use crate::call::Call;
use crate::context::Caller;
use crate::service::Service;
use coffer_api::query::{Node, Params};
use coffer_api::{iam_ops, sts_ops, ApiError, ErrorCode, IamOperation, StsOperation};
use serde_json::Value;

/// Which Query service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryService {
    Iam,
    Sts,
}

impl QueryService {
    /// The model's name for `action`, if the model has such an operation
    /// (metrics and logs name nothing a client made up).
    pub fn known(self, action: &str) -> Option<&'static str> {
        let names = match self {
            QueryService::Iam => iam_ops::NAMES,
            QueryService::Sts => sts_ops::NAMES,
        };
        names.iter().find(|n| **n == action).copied()
    }

    /// The audit records' `eventSource`.
    pub fn source(self) -> &'static str {
        match self {
            QueryService::Iam => "iam.amazonaws.com",
            QueryService::Sts => "sts.amazonaws.com",
        }
    }

    /// The XML namespace of the service's answers.
    pub fn namespace(self) -> &'static str {
        match self {
            QueryService::Iam => iam_ops::XML_NAMESPACE,
            QueryService::Sts => sts_ops::XML_NAMESPACE,
        }
    }
}

/// What the audit record of one call says.
struct Audited {
    name: &'static str,
    params: Value,
    read_only: bool,
}

/// The audit record of a call that did not parse: its action if the model
/// has it, and no parameters.
fn unparsed(service: QueryService, params: &Params) -> Audited {
    let action = params.get("Action").unwrap_or("");
    Audited {
        name: service.known(action).unwrap_or("UnknownOperation"),
        params: Value::Object(serde_json::Map::default()),
        read_only: false,
    }
}

impl Service {
    /// Parses and runs one IAM or STS call; the result elements go inside
    /// `<ActionResult>`.
    pub async fn call_query(
        &self,
        caller: &Caller,
        service: QueryService,
        params: &Params,
    ) -> Result<Vec<Node>, ApiError> {
        // Defence in depth: the HTTP layer lets an unsigned request through
        // only for this operation, whose token is its credential.
        let web = service == QueryService::Sts
            && params.get("Action") == Some("AssumeRoleWithWebIdentity");
        if caller.is_unsigned() && !web {
            return Err(ApiError::new(
                ErrorCode::MissingAuthenticationToken,
                "Request is missing Authentication Token",
            ));
        }
        let (audited, result) = match service {
            QueryService::Iam => match IamOperation::parse(params) {
                Ok(op) => {
                    let call = Call::with_params(caller, op.name(), op.audit_parameters())
                        .audited_as(service.source());
                    let read_only = op.read_only();
                    let r = self.run_iam(&call, op).await;
                    // A committed change carried its record in its own transaction.
                    if call.audited() {
                        return r;
                    }
                    let a = Audited {
                        name: call.name,
                        params: call.params.clone(),
                        read_only,
                    };
                    (a, r)
                }
                Err(e) => (unparsed(service, params), Err(e)),
            },
            QueryService::Sts => match StsOperation::parse(params) {
                Ok(op) => {
                    let a = Audited {
                        name: op.name(),
                        params: op.audit_parameters(),
                        read_only: op.read_only(),
                    };
                    let call = Call::new(caller, op.name());
                    let r = self.run_sts(&call, op).await;
                    if let Some(web) = call.web_identity() {
                        // Its record is the web identity's, in the role's account.
                        let mut rec = audit::record_from(
                            service.source(),
                            caller,
                            a.name,
                            self.clock.now_ms(),
                            a.params,
                            r.as_ref().err(),
                            a.read_only,
                        );
                        rec["userIdentity"] = web.0;
                        rec["recipientAccountId"] = web.1.into();
                        self.audit.append(rec).await?;
                        return r;
                    }
                    (a, r)
                }
                Err(e) => (unparsed(service, params), Err(e)),
            },
        };
        let rec = audit::record_from(
            service.source(),
            caller,
            audited.name,
            self.clock.now_ms(),
            audited.params,
            result.as_ref().err(),
            audited.read_only,
        );
        // Fail closed: no audit record, no answer.
        self.audit.append(rec).await?;
        result
    }

    async fn run_iam(&self, call: &Call<'_>, op: IamOperation) -> Result<Vec<Node>, ApiError> {
        let op = op.into_served().map_err(ApiError::unserved)?;
        let grant = self.identity.authorize_iam(call, &op).await?;
        self.identity.dispatch_iam(&grant, op).await
    }

    async fn run_sts(&self, call: &Call<'_>, op: StsOperation) -> Result<Vec<Node>, ApiError> {
        let op = op.into_served().map_err(ApiError::unserved)?;
        let grant = self.identity.authorize_sts(call, &op).await?;
        if let Ok(web) = grant.web_role() {
            call.set_web_identity(web.user_identity(), web.role.account.clone());
        }
        self.identity.dispatch_sts(&grant, op).await
    }
}
