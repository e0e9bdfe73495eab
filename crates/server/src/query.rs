//! The AWS Query protocol for IAM and STS: a form-encoded POST in, XML out.

use crate::body::Body;
use crate::front::Handler;
use crate::metrics;
use crate::quota::Family;
use bytes::Bytes;
use coffer_api::query::{escape_into, Node, Params};
use coffer_api::ApiError;
use coffer_core::context::Caller;
use coffer_core::QueryService;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::net::SocketAddr;
use std::time::Instant;
use tracing::Instrument;

fn xml_response(status: u16, request_id: &str, body: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "text/xml")
        .header("x-amzn-requestid", request_id)
        .body(Body::full(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Body::full(Bytes::new())))
}

fn success(service: QueryService, action: &str, nodes: &[Node], request_id: &str) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{}\">",
        service.namespace()
    );
    if !nodes.is_empty() {
        out.push_str(&format!("<{action}Result>"));
        for n in nodes {
            n.render(&mut out);
        }
        out.push_str(&format!("</{action}Result>"));
    }
    out.push_str("<ResponseMetadata><RequestId>");
    escape_into(request_id, &mut out);
    out.push_str(&format!(
        "</RequestId></ResponseMetadata></{action}Response>"
    ));
    out
}

fn failure(service: QueryService, e: &ApiError, request_id: &str) -> (u16, String) {
    let (code, status) = e.code.query();
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{}\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>",
        service.namespace()
    );
    escape_into(&e.message, &mut out);
    out.push_str("</Message></Error><RequestId>");
    escape_into(request_id, &mut out);
    out.push_str("</RequestId></ErrorResponse>");
    (status, out)
}

/// The service a request is for, from its SigV4 scope (`.../iam/aws4_request`),
/// so even a request that fails authentication gets the right error namespace.
fn scoped_service(req: &Request<Incoming>) -> QueryService {
    let scope = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if scope.contains("/iam/aws4_request") {
        QueryService::Iam
    } else {
        QueryService::Sts
    }
}

impl Handler {
    pub(crate) async fn query(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Response<Body> {
        let service = scoped_service(&req);
        let started = Instant::now();
        let span = tracing::info_span!("request", request_id = %request_id, service = ?service);
        let (action, result) = self
            .query_inner(req, peer, service, request_id)
            .instrument(span.clone())
            .await;
        let (status, body, code) = match result {
            Ok(nodes) => (200, success(service, &action, &nodes, request_id), "OK"),
            Err(e) => {
                span.in_scope(|| tracing::info!(code = e.code.query().0, "request refused"));
                let (status, body) = failure(service, &e, request_id);
                (status, body, e.code.query().0)
            }
        };
        let op = service.known(&action).unwrap_or("unknown");
        metrics::record(op, status, code, started.elapsed().as_secs_f64());
        xml_response(status, request_id, body)
    }

    /// AssumeRoleWithWebIdentity without a signature: AWS's SDKs send it
    /// unsigned (the token is the credential). Signed, it is authenticated
    /// as any request is.
    fn web_identity(
        service: QueryService,
        action: &str,
        parts: &hyper::http::request::Parts,
    ) -> bool {
        service == QueryService::Sts
            && action == "AssumeRoleWithWebIdentity"
            && !parts.headers.contains_key("authorization")
    }

    fn unsigned_caller(
        &self,
        parts: &hyper::http::request::Parts,
        peer: SocketAddr,
        request_id: &str,
    ) -> Caller {
        let region = self
            .cfg
            .regions
            .as_ref()
            .and_then(|r| r.first().cloned())
            .unwrap_or_else(|| "us-east-1".to_string());
        let signed = Self::caller_parts(parts, peer);
        Caller::unsigned(region, signed.0, signed.1, request_id.to_string(), signed.2)
    }

    async fn query_inner(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        service: QueryService,
        request_id: &str,
    ) -> (String, Result<Vec<Node>, ApiError>) {
        let (parts, body) = match self.read_body(req).await {
            Ok(x) => x,
            Err(e) => return (String::new(), Err(e)),
        };
        let params = Params::from_form(&body);
        let action = params.get("Action").unwrap_or("").to_string();
        let wanted: &[&str] = match service {
            QueryService::Iam => &["iam"],
            QueryService::Sts => &["sts"],
        };
        let op = service.known(&action).unwrap_or("");
        let caller = if Self::web_identity(service, &action, &parts) {
            self.unsigned_caller(&parts, peer, request_id)
        } else {
            let verified = match self
                .authenticate(&parts, &body, wanted, op, peer, request_id)
                .await
            {
                Ok(v) => v,
                Err(e) => return (action, Err(e)),
            };
            Self::caller(verified, &parts, peer, request_id)
        };
        // An unsigned caller is throttled by its address, within the account
        // of the role it asks for (so one account's callers cannot use up
        // another's budget).
        let (quota_key, quota_account) = if caller.is_unsigned() {
            let account = params
                .get("RoleArn")
                .and_then(|a| a.strip_prefix("arn:aws:iam::"))
                .and_then(|a| a.split(':').next())
                .unwrap_or("")
                .to_string();
            let from = caller
                .source_ip
                .parse()
                .map_or_else(|_| caller.source_ip.clone(), crate::quota::network_of);
            (format!("web-identity:{from}"), account)
        } else {
            (caller.principal_arn.clone(), caller.account_id.clone())
        };
        let throttled = self.quotas.take(Family::Iam, &quota_key, &quota_account);
        if let Err(e) = throttled {
            return (action, Err(e));
        }
        let result = self.svc.call_query(&caller, service, &params).await;
        (action, result)
    }
}
