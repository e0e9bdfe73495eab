//! AWS error codes and the one table that maps each to its HTTP status.

use std::fmt;

/// Every error code Coffer answers with. The names are AWS's, verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ResourceNotFound,
    ResourceExists,
    InvalidRequest,
    InvalidParameter,
    InvalidNextToken,
    LimitExceeded,
    Validation,
    DecryptionFailure,
    EncryptionFailure,
    InternalServiceError,
    AccessDenied,
    MalformedPolicyDocument,
    PublicPolicy,
    // IAM's own codes (Query protocol).
    NoSuchEntity,
    EntityAlreadyExists,
    DeleteConflict,
    InvalidInput,
    IamLimitExceeded,
    PackedPolicyTooLarge,
    ConcurrentModification,
    // STS's web identity codes.
    InvalidIdentityToken,
    IdpCommunicationError,
    IdpRejectedClaim,
    /// A web identity token past its `exp` (STS's `ExpiredTokenException`,
    /// unlike a signature's expired session token, `ExpiredToken`).
    ExpiredIdentityToken,
    // EventBridge's own codes.
    InvalidEventPattern,
    EventsConcurrentModification,
    ResourceAlreadyExists,
    // CloudTrail's own codes.
    InvalidLookupAttributes,
    InvalidTimeRange,
    InvalidMaxResults,
    InvalidEventCategory,
    // KMS's own codes.
    KmsNotFound,
    KmsInvalidState,
    Disabled,
    InvalidCiphertext,
    IncorrectKey,
    AlreadyExists,
    InvalidAliasName,
    InvalidMarker,
    InvalidArn,
    InvalidKeyUsage,
    KmsTag,
    KmsUnsupportedOperation,
    NotAuthorized,
    // Authentication and protocol errors shared by every JSON 1.1 service.
    MissingAuthenticationToken,
    IncompleteSignature,
    InvalidSignature,
    UnrecognizedClient,
    ExpiredToken,
    SerializationException,
    UnknownOperation,
    RequestEntityTooLarge,
    RequestTimeout,
    Throttling,
    ServiceUnavailable,
}

impl ErrorCode {
    /// The `__type` string on the wire.
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    /// The HTTP status AWS uses for this code.
    pub fn status(self) -> u16 {
        self.entry().1
    }

    fn entry(self) -> (&'static str, u16) {
        use ErrorCode::{
            AccessDenied, AlreadyExists, ConcurrentModification, DecryptionFailure, DeleteConflict,
            Disabled, EncryptionFailure, EntityAlreadyExists, EventsConcurrentModification,
            ExpiredIdentityToken, ExpiredToken, IamLimitExceeded, IdpCommunicationError,
            IdpRejectedClaim, IncompleteSignature, IncorrectKey, InternalServiceError,
            InvalidAliasName, InvalidArn, InvalidCiphertext, InvalidEventCategory,
            InvalidEventPattern, InvalidIdentityToken, InvalidInput, InvalidKeyUsage,
            InvalidLookupAttributes, InvalidMarker, InvalidMaxResults, InvalidNextToken,
            InvalidParameter, InvalidRequest, InvalidSignature, InvalidTimeRange, KmsInvalidState,
            KmsNotFound, KmsTag, KmsUnsupportedOperation, LimitExceeded, MalformedPolicyDocument,
            MissingAuthenticationToken, NoSuchEntity, NotAuthorized, PackedPolicyTooLarge,
            PublicPolicy, RequestEntityTooLarge, RequestTimeout, ResourceAlreadyExists,
            ResourceExists, ResourceNotFound, SerializationException, ServiceUnavailable,
            Throttling, UnknownOperation, UnrecognizedClient, Validation,
        };
        match self {
            ResourceNotFound => ("ResourceNotFoundException", 400),
            ResourceExists => ("ResourceExistsException", 400),
            InvalidRequest => ("InvalidRequestException", 400),
            InvalidParameter => ("InvalidParameterException", 400),
            InvalidNextToken => ("InvalidNextTokenException", 400),
            LimitExceeded => ("LimitExceededException", 400),
            Validation => ("ValidationException", 400),
            DecryptionFailure => ("DecryptionFailure", 400),
            EncryptionFailure => ("EncryptionFailure", 400),
            InternalServiceError => ("InternalServiceError", 500),
            AccessDenied => ("AccessDeniedException", 400),
            MalformedPolicyDocument => ("MalformedPolicyDocumentException", 400),
            PublicPolicy => ("PublicPolicyException", 400),
            NoSuchEntity => ("NoSuchEntity", 404),
            EntityAlreadyExists => ("EntityAlreadyExists", 409),
            DeleteConflict => ("DeleteConflict", 409),
            InvalidInput => ("InvalidInput", 400),
            IamLimitExceeded => ("LimitExceeded", 409),
            InvalidIdentityToken => ("InvalidIdentityToken", 400),
            IdpCommunicationError => ("IDPCommunicationError", 400),
            IdpRejectedClaim => ("IDPRejectedClaim", 403),
            ExpiredIdentityToken => ("ExpiredTokenException", 400),
            PackedPolicyTooLarge => ("PackedPolicyTooLarge", 400),
            ConcurrentModification => ("ConcurrentModification", 409),
            InvalidEventPattern => ("InvalidEventPatternException", 400),
            EventsConcurrentModification => ("ConcurrentModificationException", 400),
            ResourceAlreadyExists => ("ResourceAlreadyExistsException", 400),
            InvalidLookupAttributes => ("InvalidLookupAttributesException", 400),
            InvalidTimeRange => ("InvalidTimeRangeException", 400),
            InvalidMaxResults => ("InvalidMaxResultsException", 400),
            InvalidEventCategory => ("InvalidEventCategoryException", 400),
            KmsNotFound => ("NotFoundException", 400),
            KmsInvalidState => ("KMSInvalidStateException", 400),
            Disabled => ("DisabledException", 400),
            InvalidCiphertext => ("InvalidCiphertextException", 400),
            IncorrectKey => ("IncorrectKeyException", 400),
            AlreadyExists => ("AlreadyExistsException", 400),
            InvalidAliasName => ("InvalidAliasNameException", 400),
            InvalidMarker => ("InvalidMarkerException", 400),
            InvalidArn => ("InvalidArnException", 400),
            InvalidKeyUsage => ("InvalidKeyUsageException", 400),
            KmsTag => ("TagException", 400),
            KmsUnsupportedOperation => ("UnsupportedOperationException", 400),
            NotAuthorized => ("NotAuthorizedException", 400),
            MissingAuthenticationToken => ("MissingAuthenticationTokenException", 400),
            IncompleteSignature => ("IncompleteSignatureException", 400),
            InvalidSignature => ("InvalidSignatureException", 400),
            UnrecognizedClient => ("UnrecognizedClientException", 400),
            ExpiredToken => ("ExpiredTokenException", 400),
            SerializationException => ("SerializationException", 400),
            UnknownOperation => ("UnknownOperationException", 400),
            RequestEntityTooLarge => ("RequestEntityTooLargeException", 413),
            RequestTimeout => ("RequestTimeoutException", 408),
            Throttling => ("ThrottlingException", 400),
            ServiceUnavailable => ("ServiceUnavailableException", 503),
        }
    }
}

impl ErrorCode {
    /// Authentication and protocol errors, raised before any service's handler.
    pub fn is_protocol(self) -> bool {
        use ErrorCode::{
            ExpiredToken, IncompleteSignature, InvalidSignature, MissingAuthenticationToken,
            RequestEntityTooLarge, RequestTimeout, SerializationException, ServiceUnavailable,
            Throttling, UnknownOperation, UnrecognizedClient,
        };
        matches!(
            self,
            MissingAuthenticationToken
                | IncompleteSignature
                | InvalidSignature
                | UnrecognizedClient
                | ExpiredToken
                | SerializationException
                | UnknownOperation
                | RequestEntityTooLarge
                | RequestTimeout
                | Throttling
                | ServiceUnavailable
        )
    }

    /// The code and status in the Query protocol (IAM, STS), where AWS names the
    /// shared errors differently from the JSON services.
    pub fn query(self) -> (&'static str, u16) {
        use ErrorCode::{
            AccessDenied, ExpiredToken, IncompleteSignature, InternalServiceError,
            InvalidParameter, InvalidRequest, InvalidSignature, MalformedPolicyDocument,
            MissingAuthenticationToken, SerializationException, Throttling, UnknownOperation,
            UnrecognizedClient, Validation,
        };
        match self {
            AccessDenied => ("AccessDenied", 403),
            MalformedPolicyDocument => ("MalformedPolicyDocument", 400),
            UnrecognizedClient => ("InvalidClientTokenId", 403),
            InvalidSignature => ("SignatureDoesNotMatch", 403),
            IncompleteSignature => ("IncompleteSignature", 400),
            MissingAuthenticationToken => ("MissingAuthenticationToken", 403),
            ExpiredToken => ("ExpiredToken", 400),
            Validation | InvalidParameter | InvalidRequest | SerializationException => {
                ("ValidationError", 400)
            }
            InternalServiceError => ("ServiceFailure", 500),
            UnknownOperation => ("InvalidAction", 400),
            Throttling => ("Throttling", 400),
            other => other.entry(),
        }
    }
}

/// An error as the client sees it: an AWS code and a message safe to show.
/// Internal detail never goes in here; it is logged where it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn not_found() -> Self {
        Self::new(
            ErrorCode::ResourceNotFound,
            "Secrets Manager can't find the specified secret.",
        )
    }

    pub fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameter, message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn internal() -> Self {
        Self::new(
            ErrorCode::InternalServiceError,
            "An error occurred on the server side.",
        )
    }

    /// An operation of the model this server does not serve yet.
    pub fn unserved(operation: &str) -> Self {
        Self::new(
            ErrorCode::UnknownOperation,
            format!("{operation} is not implemented by this Coffer server yet."),
        )
    }

    pub fn marked_for_deletion() -> Self {
        Self::invalid_request(
            "You can't perform this operation on the secret because it was marked for deletion.",
        )
    }

    /// The JSON 1.1 error body: `{"__type": ..., "message": ...}`. Built with serde
    /// so a quote or a backslash in the message cannot break it.
    pub fn to_body(&self) -> Vec<u8> {
        self.body_with("message")
    }

    /// The body as Secrets Manager's own errors carry it: `Message`, capital M
    /// (its authentication and protocol errors keep `message`, as AWS's do).
    pub fn to_secrets_manager_body(&self) -> Vec<u8> {
        if self.code.is_protocol() {
            self.to_body()
        } else {
            self.body_with("Message")
        }
    }

    fn body_with(&self, member: &str) -> Vec<u8> {
        let mut m = serde_json::Map::new();
        m.insert("__type".into(), self.code.as_str().into());
        m.insert(member.into(), self.message.clone().into());
        serde_json::to_vec(&m).unwrap_or_default()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_escapes_quotes() {
        let e = ApiError::invalid_param("bad \"name\"\\");
        let v: serde_json::Value = serde_json::from_slice(&e.to_body()).unwrap();
        assert_eq!(v["__type"], "InvalidParameterException");
        assert_eq!(v["message"], "bad \"name\"\\");
        let v: serde_json::Value = serde_json::from_slice(&e.to_secrets_manager_body()).unwrap();
        assert_eq!(v["Message"], "bad \"name\"\\");
        let auth = ApiError::new(ErrorCode::UnrecognizedClient, "no");
        let v: serde_json::Value = serde_json::from_slice(&auth.to_secrets_manager_body()).unwrap();
        assert_eq!(v["message"], "no");
    }

    #[test]
    fn statuses_follow_aws() {
        assert_eq!(ErrorCode::ResourceNotFound.status(), 400);
        assert_eq!(ErrorCode::InternalServiceError.status(), 500);
        assert_eq!(ErrorCode::RequestEntityTooLarge.status(), 413);
    }
}
