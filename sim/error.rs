//! The one error type of the simulator.
//!
//! Domain code returns [`SimError`]: a stable [`ErrorCode`], a message that tells the user what to
//! do, and optionally the input field at fault. It knows nothing of HTTP; each API surface renders
//! it in its own envelope (see `api`), choosing the status from the code's [`ErrorClass`].

use std::fmt;

/// What kind of failure an [`ErrorCode`] is; surfaces map this to a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The input is malformed or breaks a rule (400).
    BadRequest,
    /// No, or no valid, credentials (401).
    Unauthorized,
    /// The caller is known but may not do this (403).
    Forbidden,
    /// The thing named does not exist (404).
    NotFound,
    /// The route exists but not for this method (405).
    MethodNotAllowed,
    /// The request conflicts with the current state (409).
    Conflict,
    /// The body is larger than the configured limit (413).
    PayloadTooLarge,
    /// The caller exceeded a request budget; retry later (429).
    TooManyRequests,
    /// A bug in the simulator (500).
    Internal,
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident => $class:ident,)*) => {
        /// Stable, machine-readable error codes. The string form (the variant name) is part of the
        /// public contract: tests and tools match on it, so never rename a code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The stable string form, e.g. `"TenantNotFound"`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => stringify!($name),)* }
            }

            /// The class of failure, which decides the HTTP status.
            pub fn class(self) -> ErrorClass {
                match self { $(ErrorCode::$name => ErrorClass::$class,)* }
            }
        }
    };
}

error_codes! {
    /// The body is not syntactically valid JSON.
    InvalidJson => BadRequest,
    /// The body is JSON but a field is missing, unknown or of the wrong type.
    InvalidBody => BadRequest,
    /// The form-encoded body could not be read.
    InvalidForm => BadRequest,
    /// A query-string parameter is malformed.
    InvalidQuery => BadRequest,
    /// A path segment is malformed.
    InvalidPath => BadRequest,
    /// The body exceeds the configured size limit.
    PayloadTooLarge => PayloadTooLarge,
    /// No route matches the path.
    RouteNotFound => NotFound,
    /// The route exists but does not accept this HTTP method.
    MethodNotAllowed => MethodNotAllowed,
    /// The training UI has no asset of that name.
    UiAssetNotFound => NotFound,
    /// The control plane is guarded (`--control-token`) and the request carries no token.
    ControlTokenRequired => Unauthorized,
    /// The request carries a control token, but not the one the simulator started with.
    ControlTokenInvalid => Unauthorized,

    /// A duration string could not be parsed.
    InvalidDuration => BadRequest,
    /// A timestamp could not be parsed.
    InvalidTimestamp => BadRequest,
    /// The clock's time scale is out of range.
    InvalidScale => BadRequest,
    /// The virtual clock cannot move backwards.
    ClockCannotGoBack => BadRequest,
    /// The requested virtual time is beyond what the clock can represent.
    ClockOutOfRange => BadRequest,

    /// A tenant id is not a GUID.
    InvalidTenantId => BadRequest,
    /// No tenant with this id (or domain) exists.
    TenantNotFound => NotFound,
    /// A tenant with this id already exists.
    TenantExists => Conflict,
    /// More than one tenant answers to this domain name.
    AmbiguousTenant => BadRequest,
    /// A domain name is malformed.
    InvalidDomain => BadRequest,
    /// A user principal name is malformed.
    InvalidUpn => BadRequest,
    /// An object id or client id is not a GUID.
    InvalidObjectId => BadRequest,
    /// An admin role name is not one the simulator knows.
    InvalidRole => BadRequest,
    /// A license name is empty.
    InvalidLicense => BadRequest,
    /// A capacity figure is out of range.
    InvalidCapacity => BadRequest,
    /// A display name or secret is empty or too long.
    InvalidName => BadRequest,
    /// No user with this UPN (or object id) exists in the tenant.
    UserNotFound => NotFound,
    /// A user with this UPN or object id already exists in the tenant.
    UserExists => Conflict,
    /// No application with this client id is registered in the tenant.
    ApplicationNotFound => NotFound,
    /// An application with this client id already exists in the tenant.
    ApplicationExists => Conflict,

    /// An operation id is not a GUID.
    InvalidOperationId => BadRequest,
    /// No operation with this id exists in the tenant.
    OperationNotFound => NotFound,
    /// The operation is not in a state that allows resuming.
    OperationNotResumable => Conflict,

    /// A required token-request parameter is missing.
    MissingParameter => BadRequest,
    /// The token request uses a grant type the simulator does not support.
    UnsupportedGrantType => BadRequest,
    /// A requested scope is not valid for the grant.
    InvalidScope => BadRequest,
    /// The password does not match the user's.
    InvalidCredentials => BadRequest,
    /// The client secret does not match the application's.
    InvalidClientSecret => Unauthorized,
    /// A refresh token is malformed, revoked or for another tenant.
    InvalidGrant => BadRequest,
    /// The request carries no bearer token.
    MissingToken => Unauthorized,
    /// The bearer token is malformed, not issued by this simulator, or its principal is gone.
    InvalidToken => Unauthorized,
    /// The bearer token has expired (only with expiry enforcement on).
    TokenExpired => Unauthorized,

    /// An LCS project id is not a number.
    InvalidProjectId => BadRequest,
    /// No LCS project with this id exists in the tenant.
    ProjectNotFound => NotFound,
    /// The caller is not a member of the LCS project with a role that allows this.
    ProjectAccessDenied => Forbidden,
    /// An LCS project member is listed twice or already exists.
    MemberExists => Conflict,
    /// An LCS project role name is not one the simulator knows.
    InvalidProjectRole => BadRequest,
    /// An F&O environment id is not a GUID.
    InvalidEnvironmentId => BadRequest,
    /// No F&O environment with this id (or name) exists in the project.
    EnvironmentNotFound => NotFound,
    /// An F&O environment with this name already exists in the project.
    EnvironmentExists => Conflict,
    /// An environment type, infrastructure, region or version is not one LCS offers.
    InvalidEnvironmentSpec => BadRequest,
    /// The environment is running another operation.
    EnvironmentBusy => Conflict,
    /// The environment is not in a state that allows this operation (e.g. not deployed, stopped).
    EnvironmentNotReady => Conflict,
    /// A documented LCS rule refuses the operation for these environments (type, region, release...).
    OperationNotAllowed => Conflict,
    /// An F&O environment's type is fixed at deployment.
    EnvironmentTypeImmutable => Conflict,
    /// The 3-database-operations-per-environment-per-24-hours budget is used up.
    DatabaseOperationLimit => Conflict,
    /// A request budget of a throttled API is used up; retry after the advertised seconds.
    Throttled => TooManyRequests,
    /// An asset id is not a GUID.
    InvalidAssetId => BadRequest,
    /// No asset with this id exists in the project's asset library.
    AssetNotFound => NotFound,
    /// The asset is not in a state that allows this (not uploaded, not validated, wrong type).
    AssetNotReady => Conflict,
    /// An asset's file type, name or size is not valid.
    InvalidAsset => BadRequest,
    /// No LCS activity with this id exists for the environment.
    ActivityNotFound => NotFound,
    /// A duration override names an unknown operation kind or an invalid range.
    InvalidDurationOverride => BadRequest,

    /// A blob storage request is not signed by a valid, unexpired SAS for this blob.
    BlobAuthenticationFailed => Forbidden,
    /// The SAS does not grant the permission this request needs.
    BlobPermissionMismatch => Forbidden,
    /// No blob with this name exists.
    BlobNotFound => NotFound,
    /// A blob request is malformed (missing header, bad block id or block list).
    InvalidBlobRequest => BadRequest,
    /// A requested byte range lies outside the blob.
    InvalidRange => BadRequest,

    // Power Platform (BAP admin API and Power Platform API)
    /// Another lifecycle operation is running on the environment; retry when it has finished.
    OperationNotStartable => Conflict,
    /// The tenant has less than 1 GB of free database capacity (BAP:
    /// `InsufficientCapacity_StorageDriven`).
    InsufficientCapacity => Conflict,
    /// A Dataverse domain name is malformed.
    InvalidDomainName => BadRequest,
    /// A Dataverse domain name is taken (or blocked after a recent delete).
    DomainNameInUse => BadRequest,
    /// The tenant restricts environment creation to admins and the caller is none.
    EnvironmentCreationRestricted => Forbidden,
    /// A template needs a Dynamics 365 licence the tenant does not have.
    DynamicsEntitlementMissing => BadRequest,
    /// The environment's type, state or link does not allow this lifecycle operation.
    LifecycleOperationNotAllowed => BadRequest,
    /// Copy and restore only write into sandbox environments.
    TargetEnvironmentMustBeSandbox => BadRequest,
    /// A location, region, language, currency or SKU is unknown or not allowed here.
    InvalidEnvironmentRequest => BadRequest,
    /// `usedBy` was sent for an environment that is not a developer environment.
    UsedByInvalidInRequest => BadRequest,
    /// No backup with this id, or no restore point at the requested time.
    BackupNotFound => NotFound,
    /// No such application package in the catalogue or environment.
    PackageNotFound => NotFound,
    /// The caller may not act on environments at the admin scope.
    Forbidden => Forbidden,
    /// Reset, delete or a domain change on a Dataverse environment linked to a finance and
    /// operations environment.
    OperationNotSupportedForLinkedFinOpsEnvironment => BadRequest,

    // Power Platform integration (the link between the two halves)
    /// Setup needs the terms and conditions accepted (`acceptTerms: true`).
    TermsNotAccepted => BadRequest,
    /// Power Platform integration is already set up, running or failed (resume it) for this
    /// environment; the link is irreversible.
    PowerPlatformIntegrationExists => Conflict,
    /// The action needs Power Platform integration to be set up and complete.
    PowerPlatformIntegrationRequired => Conflict,
    /// The Dataverse environment cannot be linked: already linked, of another type, in another
    /// tenant, or without a database.
    DataverseEnvironmentNotLinkable => Conflict,
    /// An add-in name or its settings are not valid.
    InvalidAddin => BadRequest,
    /// The add-in (or the dual-write application) is installed or being installed already.
    AddinAlreadyInstalled => Conflict,
    /// Setup failed: the F&O environment administrator lacks the Dynamics 365 Unified Operations
    /// Plan license.
    AdministratorNotLicensed => Conflict,
    /// Setup failed: the tenant restricts environment creation to admins and the F&O environment
    /// administrator holds none of the admin roles.
    AdministratorRoleRequired => Conflict,

    /// A fault rule is malformed or names something unknown.
    InvalidFaultRule => BadRequest,
    /// No fault rule with this name.
    FaultRuleNotFound => NotFound,
    /// A fault rule with this name exists already.
    FaultRuleExists => Conflict,

    /// A scenario file does not parse, names something unknown, or describes a world the
    /// portals' own rules refuse (the message names the place in the file).
    InvalidScenario => BadRequest,
    /// No built-in scenario with this name.
    ScenarioNotFound => NotFound,

    /// The simulator's configuration is contradictory.
    InvalidConfig => BadRequest,

    /// Instance discovery was asked about an authority host the simulator does not answer for.
    InvalidInstance => BadRequest,

    // The proxy and the TLS port
    /// A proxy request names no host (or CONNECT no port).
    InvalidProxyRequest => BadRequest,
    /// The proxy was asked for a host the simulator does not emulate; nothing is forwarded.
    HostNotEmulated => Forbidden,
    /// A CONNECT names a port other than 443.
    ProxyPortRefused => Forbidden,
    /// Plain HTTP came to the TLS port.
    PlainHttpOnTlsPort => BadRequest,
    /// A request line the HTTP parser cannot read: a path with `<`, `>`, a backtick or a space
    /// (a pasted placeholder such as `<id>`).
    InvalidRequestLine => BadRequest,
    /// A request rule (`/_sim/faults`) answered the request with the error it names; the status
    /// and wire code are the rule's ([`SimError::injected`]).
    InjectedFault => Internal,
    /// A bug in the simulator; the message says what happened.
    Internal => Internal,
}

impl ErrorClass {
    /// The class a bare HTTP status belongs to (an injected answer's status).
    pub fn of_status(status: u16) -> ErrorClass {
        match status {
            401 => ErrorClass::Unauthorized,
            403 => ErrorClass::Forbidden,
            404 => ErrorClass::NotFound,
            405 => ErrorClass::MethodNotAllowed,
            409 => ErrorClass::Conflict,
            413 => ErrorClass::PayloadTooLarge,
            429 => ErrorClass::TooManyRequests,
            s if s < 500 => ErrorClass::BadRequest,
            _ => ErrorClass::Internal,
        }
    }
}

/// What a request rule fixed for the error it injects: the HTTP status and the code to put in the
/// surface's envelope, which the surface uses instead of its own mapping of [`SimError::code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// The status (400–599).
    pub status: u16,
    /// The code as the envelope spells it (`ServiceUnavailable`, `TooManyRequests`, ...).
    pub code: String,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a user can hit: stable code, a message that names the way out, and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SimError {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation that says what to do.
    pub message: String,
    /// The input field at fault, as a path such as `users[0].roles[1]`, when there is one.
    pub target: Option<String>,
    /// For throttling errors: seconds after which a retry will be admitted (`Retry-After`).
    pub retry_after: Option<u64>,
    /// Set when a request rule made this error up: the status and wire code it fixed.
    pub injected: Option<Box<Injected>>,
}

impl SimError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        SimError {
            code,
            message: message.into(),
            target: None,
            retry_after: None,
            injected: None,
        }
    }

    /// An error a request rule answers with: `status` and `code` as the rule fixed them.
    pub fn injected(code: ErrorCode, message: impl Into<String>, fixed: Injected) -> Self {
        SimError {
            injected: Some(Box::new(fixed)),
            ..SimError::new(code, message)
        }
    }

    /// The class of failure: the code's, or for an injected error the class of its status.
    pub fn class(&self) -> ErrorClass {
        match &self.injected {
            Some(fixed) => ErrorClass::of_status(fixed.status),
            None => self.code.class(),
        }
    }

    /// The code to put in an envelope: the injected one, else `surface_code` (the surface's own
    /// spelling of [`SimError::code`]).
    pub fn wire_code<'a>(&'a self, surface_code: &'a str) -> &'a str {
        self.injected
            .as_deref()
            .map_or(surface_code, |f| f.code.as_str())
    }

    /// Names the input field at fault.
    pub fn at(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Re-spells the target as a surface names its input: the domain names a field neutrally
    /// (`displayName`, `domainName`, `templates[1]`) and each surface maps that to its own body's
    /// path (`properties.displayName`, `linkedEnvironmentMetadata.domainName`).
    pub fn respelled(mut self, spell: impl FnOnce(&str) -> String) -> Self {
        self.target = self.target.as_deref().map(spell);
        self
    }

    /// Says when to retry (for [`ErrorCode::Throttled`]).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Prefixes the target with a parent path (`users[0]` + `upn` = `users[0].upn`).
    pub fn within(mut self, parent: impl fmt::Display) -> Self {
        self.target = Some(match self.target {
            Some(child) if child.starts_with('[') => format!("{parent}{child}"),
            Some(child) => format!("{parent}.{child}"),
            None => parent.to_string(),
        });
        self
    }

    /// Convenience for [`ErrorCode::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        SimError::new(ErrorCode::Internal, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_named_after_their_variant() {
        let names: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert_eq!(ErrorCode::TenantNotFound.as_str(), "TenantNotFound");
        assert_eq!(ErrorCode::TenantNotFound.class(), ErrorClass::NotFound);
    }

    #[test]
    fn within_builds_field_paths() {
        let e = SimError::new(ErrorCode::InvalidRole, "x").at("roles[1]");
        assert_eq!(
            e.within("users[0]").target.as_deref(),
            Some("users[0].roles[1]")
        );
        let e = SimError::new(ErrorCode::InvalidRole, "x").at("[1]");
        assert_eq!(e.within("roles").target.as_deref(), Some("roles[1]"));
        let e = SimError::new(ErrorCode::InvalidUpn, "x");
        assert_eq!(e.within("upn").target.as_deref(), Some("upn"));
    }

    #[test]
    fn respelling_maps_the_target_and_leaves_an_untargeted_error_alone() {
        let e = SimError::new(ErrorCode::InvalidBody, "bad").at("domainName");
        let spelled = e.respelled(|t| format!("properties.{t}"));
        assert_eq!(spelled.target.as_deref(), Some("properties.domainName"));
        let none = SimError::new(ErrorCode::InvalidBody, "bad").respelled(|t| format!("x.{t}"));
        assert_eq!(none.target, None);
    }
}
