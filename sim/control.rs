//! A typed handle to a simulator's control plane (`/_sim`), for Rust tests.
//!
//! [`Control`] speaks to the simulator's own router in-process (no socket, no HTTP client), so
//! every call goes through exactly the validation, journal and envelope a script calling
//! `/_sim/...` over HTTP gets, and fails with the same stable code and message ([`ControlError`]).
//! Get one from [`Simulator::control`](crate::Simulator::control). The answers are typed views
//! (`Deserialize` and `Serialize`, with the camelCase field names of the JSON), keeping what they
//! do not name in a `rest` map.

use crate::config::ControlToken;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Largest control-plane answer read back (a snapshot of a very busy tenant is a few MB).
const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;

/// A refusal of the control plane, or an answer that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ControlError {
    /// The HTTP status the control plane answered with.
    pub status: u16,
    /// The stable error code, e.g. `ClockCannotGoBack`.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl ControlError {
    /// Reads an error answer: the control plane's `{"error":{"code","message"}}` (also BAP's),
    /// or OAuth's `{"error","error_description"}` from the token endpoints. Anything else keeps
    /// the whole body as the message.
    pub fn from_envelope(status: u16, envelope: &Value) -> ControlError {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let (code, message) = match &envelope["error"] {
            Value::String(code) => (code.clone(), text(&envelope["error_description"])),
            error => (text(&error["code"]), text(&error["message"])),
        };
        if code.is_empty() && message.is_empty() {
            return ControlError {
                status,
                code,
                message: envelope.to_string(),
            };
        }
        ControlError {
            status,
            code,
            message,
        }
    }

    fn unreadable(status: StatusCode, why: impl std::fmt::Display) -> ControlError {
        ControlError {
            status: status.as_u16(),
            code: "UnreadableAnswer".into(),
            message: format!("the control plane's answer could not be read: {why}"),
        }
    }
}

/// The virtual clock, as `GET /_sim/clock` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Clock {
    /// Virtual now.
    pub now: Timestamp,
    /// Virtual seconds per real second while running.
    pub scale: f64,
    /// Whether virtual time moves only by advance.
    pub paused: bool,
}

/// What a clock advance did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Advanced {
    /// Virtual now after the advance.
    pub now: Timestamp,
    /// The operations that reached a terminal state, in the order they did.
    pub completed: Vec<Operation>,
}

/// A long-running operation of either portal (the shape `/_sim` and `/_portal` share).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// Its id.
    pub id: String,
    /// e.g. `powerPlatformIntegration.setup`, `lcs.deploy`, `ppac.copy`.
    pub kind: String,
    /// `lcs` or `ppac`.
    pub portal: String,
    /// What it works on.
    pub target: Target,
    /// `running`, `succeeded` or `failed`.
    pub state: String,
    /// 0 to 100.
    pub progress: u8,
    /// When it started.
    pub started_at: Timestamp,
    /// When it finishes (running: planned) or finished.
    pub ends_at: Timestamp,
    /// When it reached its terminal state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OperationError>,
    /// Everything else the control plane shows (stages, attempts, tenantId).
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

/// What an operation works on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// e.g. `lcsEnvironment`, `dataverseEnvironment`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id.
    pub id: String,
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationError {
    /// A stable code, e.g. `InsufficientCapacity`.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
    /// The stage it failed at.
    pub stage: String,
}

/// A tenant as the control plane shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// Its id (a GUID), the `{tenant}` of token endpoints and control routes.
    pub id: String,
    /// Its domain, e.g. `contoso.test`.
    pub domain: String,
    /// Its users.
    pub users: Vec<User>,
    /// Its app registrations, with their credentials.
    pub applications: Vec<Application>,
    /// Everything else (capacity, governance, environments, LCS projects...).
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

/// A user of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Sign-in name.
    pub upn: String,
    /// Entra object id.
    pub object_id: String,
    /// Admin roles.
    pub roles: Vec<String>,
    /// Licenses.
    pub licenses: Vec<String>,
}

/// An app registration (for client-credentials tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Its client id.
    pub client_id: String,
    /// Its secret, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// A tenant to create; every part is optional (defaults: one licensed Global admin, 10 GB of
/// database capacity, unrestricted governance).
///
/// ```
/// use lifecycle_sim::control::{NewTenant, NewUser};
/// let tenant = NewTenant::new()
///     .domain("fabrikam.test")
///     .user(NewUser::new("admin@fabrikam.test").role("Global admin"))
///     .database_mb(1536);
/// ```
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTenant {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    users: Option<Vec<NewUser>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity: Option<CapacityChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    governance: Option<Governance>,
}

impl NewTenant {
    /// A tenant with every default.
    pub fn new() -> NewTenant {
        NewTenant::default()
    }

    /// Its id (a GUID); drawn from the seed when not given.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Its domain, e.g. `fabrikam.test`.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Its display name.
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }

    /// Adds a user (the first one replaces the default admin).
    pub fn user(mut self, user: NewUser) -> Self {
        self.users.get_or_insert_with(Vec::new).push(user);
        self
    }

    /// Total Dataverse database capacity, MB.
    pub fn database_mb(mut self, mb: u64) -> Self {
        self.capacity
            .get_or_insert_with(CapacityChange::default)
            .database_mb = Some(mb);
        self
    }

    /// Whether only admins may create production environments.
    pub fn restrict_environment_creation_to_admins(mut self, restrict: bool) -> Self {
        self.governance = Some(Governance {
            restrict_environment_creation_to_admins: restrict,
        });
        self
    }
}

/// A user to add.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    upn: String,
    roles: Vec<String>,
    licenses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

impl NewUser {
    /// A user without roles or licenses.
    pub fn new(upn: impl Into<String>) -> NewUser {
        NewUser {
            upn: upn.into(),
            roles: Vec::new(),
            licenses: Vec::new(),
            password: None,
        }
    }

    /// Adds an admin role: `Global admin`, `Dynamics 365 admin` or `Power Platform admin`.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.roles.push(role.into());
        self
    }

    /// Adds a license, e.g. `Dynamics 365 Unified Operations Plan`.
    pub fn license(mut self, license: impl Into<String>) -> Self {
        self.licenses.push(license.into());
        self
    }

    /// The one password the user signs in with (without one, any password works).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }
}

/// New capacity totals; parts left `None` stay as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityChange {
    /// Dataverse database capacity, MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_mb: Option<u64>,
    /// File capacity, MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_mb: Option<u64>,
    /// Log capacity, MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_mb: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
struct Governance {
    restrict_environment_creation_to_admins: bool,
}

/// The in-process control plane of one simulator. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Control {
    router: Router,
    /// Sent with every call when the simulator guards its control plane.
    token: Option<ControlToken>,
}

impl Control {
    pub(crate) fn new(router: Router, token: Option<ControlToken>) -> Control {
        Control { router, token }
    }

    /// Sends one request to the simulator's router; the answer's body, or its error envelope.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
        content_type: Option<&str>,
    ) -> Result<(StatusCode, bytes::Bytes), ControlError> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        if let Some(token) = self.token.as_ref().filter(|_| path.starts_with("/_sim/")) {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", token.as_str()));
        }
        let request = request
            .body(body.unwrap_or_else(Body::empty))
            .map_err(|e| ControlError::unreadable(StatusCode::BAD_REQUEST, e))?;
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| ControlError::unreadable(status, e))?;
        if status.is_success() {
            return Ok((status, body));
        }
        let envelope: Value =
            serde_json::from_slice(&body).map_err(|e| ControlError::unreadable(status, e))?;
        Err(ControlError::from_envelope(status.as_u16(), &envelope))
    }

    /// One JSON call, its answer read as `T`.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ControlError> {
        let body = body.map(|b| Body::from(b.to_string()));
        let (status, answer) = self
            .send(method, path, body, Some("application/json"))
            .await?;
        serde_json::from_slice(&answer).map_err(|e| ControlError::unreadable(status, e))
    }

    /// `GET /_sim/clock`.
    pub async fn clock(&self) -> Result<Clock, ControlError> {
        self.call(Method::GET, "/_sim/clock", None).await
    }

    /// Moves the shared clock forward by a duration such as `"90m"`, `"1h30m"`, `"2d"` or
    /// `"PT1H30M"`; every operation that falls due applies its effect, in deadline order.
    pub async fn advance(&self, by: &str) -> Result<Advanced, ControlError> {
        let body = json!({ "by": by });
        self.call(Method::POST, "/_sim/clock/advance", Some(body))
            .await
    }

    /// Moves the shared clock forward to `to` (never backwards).
    pub async fn advance_to(&self, to: Timestamp) -> Result<Advanced, ControlError> {
        let body = json!({ "to": to });
        self.call(Method::POST, "/_sim/clock/advance", Some(body))
            .await
    }

    /// Moves one tenant's clock only (the others keep the shared clock).
    pub async fn advance_tenant(&self, tenant: &str, by: &str) -> Result<Advanced, ControlError> {
        let path = format!("/_sim/tenants/{tenant}/clock/advance");
        self.call(Method::POST, &path, Some(json!({ "by": by })))
            .await
    }

    /// Pauses (`true`) or resumes (`false`) virtual time.
    pub async fn set_paused(&self, paused: bool) -> Result<Clock, ControlError> {
        let body = json!({ "paused": paused });
        self.call(Method::PATCH, "/_sim/clock", Some(body)).await
    }

    /// Virtual seconds per real second.
    pub async fn set_scale(&self, scale: f64) -> Result<Clock, ControlError> {
        let body = json!({ "scale": scale });
        self.call(Method::PATCH, "/_sim/clock", Some(body)).await
    }

    /// Everything back to the start-up state (clock, start-up scenarios, journal).
    pub async fn reset(&self) -> Result<(), ControlError> {
        self.call::<Value>(Method::POST, "/_sim/reset", None)
            .await
            .map(drop)
    }

    /// Creates a tenant; the answer carries its users' and apps' credentials.
    pub async fn create_tenant(&self, tenant: &NewTenant) -> Result<Tenant, ControlError> {
        let body = serde_json::to_value(tenant)
            .map_err(|e| ControlError::unreadable(StatusCode::BAD_REQUEST, e))?;
        self.call(Method::POST, "/_sim/tenants", Some(body)).await
    }

    /// A tenant, by id (or unambiguous domain).
    pub async fn tenant(&self, tenant: &str) -> Result<Tenant, ControlError> {
        let path = format!("/_sim/tenants/{tenant}");
        self.call(Method::GET, &path, None).await
    }

    /// Every tenant, in creation order.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, ControlError> {
        #[derive(Deserialize)]
        struct List {
            tenants: Vec<Tenant>,
        }
        let list: List = self.call(Method::GET, "/_sim/tenants", None).await?;
        Ok(list.tenants)
    }

    /// Deletes a tenant (its tokens stop working).
    pub async fn delete_tenant(&self, tenant: &str) -> Result<(), ControlError> {
        let path = format!("/_sim/tenants/{tenant}");
        self.send(Method::DELETE, &path, None, None).await.map(drop)
    }

    /// Sets a tenant's capacity totals (the classic setup failure: too little database).
    pub async fn set_capacity(
        &self,
        tenant: &str,
        capacity: CapacityChange,
    ) -> Result<(), ControlError> {
        let path = format!("/_sim/tenants/{tenant}/capacity");
        let body = serde_json::to_value(capacity)
            .map_err(|e| ControlError::unreadable(StatusCode::BAD_REQUEST, e))?;
        self.call::<Value>(Method::PATCH, &path, Some(body))
            .await
            .map(drop)
    }

    /// Replaces a user's licenses (e.g. take the Unified Operations Plan away) and roles.
    pub async fn set_user(
        &self,
        tenant: &str,
        upn: &str,
        licenses: &[&str],
        roles: &[&str],
    ) -> Result<User, ControlError> {
        let path = format!("/_sim/tenants/{tenant}/users/{upn}");
        let body = json!({ "licenses": licenses, "roles": roles });
        self.call(Method::PATCH, &path, Some(body)).await
    }

    /// Whether only admins may create production environments in the tenant.
    pub async fn set_governance(
        &self,
        tenant: &str,
        restrict_environment_creation_to_admins: bool,
    ) -> Result<(), ControlError> {
        let path = format!("/_sim/tenants/{tenant}/governance");
        let body = json!({
            "restrictEnvironmentCreationToAdmins": restrict_environment_creation_to_admins
        });
        self.call::<Value>(Method::PATCH, &path, Some(body))
            .await
            .map(drop)
    }

    /// Adds a global request-fault rule (the JSON `POST /_sim/faults` takes: `match`, `latency`,
    /// `error`, `throttle`, `count`, `from`, `until`); returns the rule as stored, with its name.
    pub async fn add_fault(&self, rule: Value) -> Result<Value, ControlError> {
        self.call(Method::POST, "/_sim/faults", Some(rule)).await
    }

    /// Adds a tenant's fault: a planned operation failure (`{"operation": {...}, "count"}`) or a
    /// request rule scoped to the tenant.
    pub async fn add_tenant_fault(&self, tenant: &str, rule: Value) -> Result<Value, ControlError> {
        let path = format!("/_sim/tenants/{tenant}/faults");
        self.call(Method::POST, &path, Some(rule)).await
    }

    /// Removes every global request-fault rule.
    pub async fn clear_faults(&self) -> Result<(), ControlError> {
        self.send(Method::DELETE, "/_sim/faults", None, None)
            .await
            .map(drop)
    }

    /// Loads a scenario (YAML or JSON text) into the running simulator; the tenants it created.
    pub async fn load_scenario(&self, text: &str) -> Result<Vec<Tenant>, ControlError> {
        #[derive(Deserialize)]
        struct Loaded {
            tenants: Vec<Tenant>,
        }
        let body = Some(Body::from(text.to_string()));
        let (status, answer) = self
            .send(
                Method::POST,
                "/_sim/scenarios",
                body,
                Some("application/yaml"),
            )
            .await?;
        let loaded: Loaded =
            serde_json::from_slice(&answer).map_err(|e| ControlError::unreadable(status, e))?;
        Ok(loaded.tenants)
    }

    /// The tenant's whole state as a scenario file (YAML) that loads back to the same state.
    pub async fn snapshot(&self, tenant: &str) -> Result<String, ControlError> {
        let path = format!("/_sim/tenants/{tenant}/snapshot?format=yaml");
        let (status, answer) = self.send(Method::GET, &path, None, None).await?;
        String::from_utf8(answer.to_vec()).map_err(|e| ControlError::unreadable(status, e))
    }

    /// Every operation of a tenant, both portals, newest first.
    pub async fn operations(&self, tenant: &str) -> Result<Vec<Operation>, ControlError> {
        #[derive(Deserialize)]
        struct List {
            operations: Vec<Operation>,
        }
        let path = format!("/_sim/tenants/{tenant}/operations");
        let list: List = self.call(Method::GET, &path, None).await?;
        Ok(list.operations)
    }

    /// An access token for `upn` from the tenant's token endpoint (an Entra ID v1 password grant
    /// for `resource`, e.g. `https://lcsapi.lcs.dynamics.com`); any password works for users
    /// created without one.
    pub async fn token(
        &self,
        tenant: &str,
        upn: &str,
        resource: &str,
    ) -> Result<String, ControlError> {
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
        }
        let form = serde_urlencoded::to_string([
            ("grant_type", "password"),
            ("client_id", "00000000-0000-0000-0000-00000000c11e"),
            ("username", upn),
            ("password", "lifecycle-sim"),
            ("resource", resource),
        ])
        .map_err(|e| ControlError::unreadable(StatusCode::BAD_REQUEST, e))?;
        let path = format!("/{tenant}/oauth2/token");
        let content_type = "application/x-www-form-urlencoded";
        let (status, answer) = self
            .send(
                Method::POST,
                &path,
                Some(Body::from(form)),
                Some(content_type),
            )
            .await?;
        let token: Token =
            serde_json::from_slice(&answer).map_err(|e| ControlError::unreadable(status, e))?;
        Ok(token.access_token)
    }
}
