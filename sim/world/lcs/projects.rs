//! LCS projects and their environments: building them from a spec, membership, and deploying.

use super::*;
use crate::error::{ErrorCode, SimError};
use crate::ops::OperationId;
use crate::world::identity::{ObjectId, random_uuid};
use crate::world::tenant::{Tenant, TenantState};
use jiff::Timestamp;
use rand::RngExt;

impl Tenant {
    /// Builds projects from a spec while the tenant is being created (no operations; the
    /// environments are already deployed).
    pub(crate) fn build_projects(
        state: &mut TenantState,
        specs: &[ProjectSpec],
        now: Timestamp,
    ) -> Result<(), SimError> {
        for (i, spec) in specs.iter().enumerate() {
            Self::build_project(state, spec, now)
                .map_err(|e| e.within(format!("projects[{i}]")))?;
        }
        Ok(())
    }

    pub(super) fn build_project(
        state: &mut TenantState,
        spec: &ProjectSpec,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let members = match &spec.members {
            Some(list) => {
                let mut members: Vec<Member> = Vec::new();
                for (i, (upn, role)) in list.iter().enumerate() {
                    let user = state
                        .user(upn.as_str())
                        .map_err(|e| e.at(format!("members[{i}].upn")))?
                        .object_id;
                    if members.iter().any(|m| m.user == user) {
                        return Err(SimError::new(
                            ErrorCode::MemberExists,
                            format!("{upn} is listed twice"),
                        )
                        .at(format!("members[{i}].upn")));
                    }
                    members.push(Member { user, role: *role });
                }
                members
            }
            None => state
                .users
                .first()
                .map(|u| Member {
                    user: u.object_id,
                    role: ProjectRole::Owner,
                })
                .into_iter()
                .collect(),
        };
        let id = Self::new_project_id(state, spec.id)?;
        let fallback_admin = members
            .iter()
            .find(|m| m.role == ProjectRole::Owner)
            .or(members.first())
            .map(|m| m.user);
        state
            .lcs
            .projects
            .push(Project::new(id, spec.name.clone(), now, members));
        for (i, env) in spec.environments.iter().enumerate() {
            let mut environment = Self::new_environment(state, id, env, fallback_admin, now)
                .map_err(|e| e.within(format!("environments[{i}]")))?;
            environment.state = match env.state {
                None | Some(EnvironmentState::Deployed) => EnvironmentState::Deployed,
                Some(s @ (EnvironmentState::Stopped | EnvironmentState::Deallocated))
                    if environment.infrastructure == Infrastructure::CustomerManaged =>
                {
                    s
                }
                Some(s) => {
                    return Err(SimError::new(
                        ErrorCode::InvalidEnvironmentSpec,
                        format!(
                            "a declared environment can be Deployed, or Stopped/Deallocated when \
                             customer-managed; not {}",
                            s.as_str()
                        ),
                    )
                    .at(format!("environments[{i}].state")));
                }
            };
            environment.deployed_on = Some(now);
            state.lcs.project_mut(id)?.insert(environment);
        }
        Ok(())
    }

    pub(super) fn new_project_id(
        state: &mut TenantState,
        wanted: Option<ProjectId>,
    ) -> Result<ProjectId, SimError> {
        let taken =
            |state: &TenantState, id: ProjectId| state.lcs.projects.iter().any(|p| p.id == id);
        match wanted {
            Some(id) if taken(state, id) => Err(SimError::new(
                ErrorCode::InvalidProjectId,
                format!("project {id} already exists"),
            )
            .at("id")),
            Some(id) => Ok(id),
            None => loop {
                let id = ProjectId(state.rng.random_range(1_000_000..10_000_000));
                if !taken(state, id) {
                    break Ok(id);
                }
            },
        }
    }

    /// A new environment (state `Deploying`) validated against the project and tenant.
    pub(super) fn new_environment(
        state: &mut TenantState,
        project: ProjectId,
        spec: &EnvironmentSpec,
        fallback_admin: Option<ObjectId>,
        now: Timestamp,
    ) -> Result<FoEnvironment, SimError> {
        check_name(&spec.name, "environment name", 50)?;
        let p = state.lcs.project(project)?;
        if p.environment_named(&spec.name).is_some() {
            return Err(SimError::new(
                ErrorCode::EnvironmentExists,
                format!(
                    "project {project} already has an environment named '{}'; pick another name",
                    spec.name
                ),
            )
            .at("name"));
        }
        let infrastructure = spec.infrastructure.unwrap_or(if spec.env_type.is_tier1() {
            Infrastructure::CustomerManaged
        } else {
            Infrastructure::MicrosoftManaged
        });
        match (spec.env_type.is_tier1(), infrastructure) {
            (false, Infrastructure::CustomerManaged) | (true, Infrastructure::SelfService) => {
                return Err(SimError::new(
                    ErrorCode::InvalidEnvironmentSpec,
                    format!(
                        "{} environments cannot be {}: Tier-1 (DevTest) environments are \
                         customer- or Microsoft-managed, Sandbox and Production are \
                         Microsoft-managed or self-service",
                        spec.env_type.as_str(),
                        infrastructure.as_str()
                    ),
                )
                .at("infrastructure"));
            }
            _ => {}
        }
        let administrator = match &spec.administrator {
            Some(upn) => {
                state
                    .user(upn.as_str())
                    .map_err(|e| e.at("administrator"))?
                    .object_id
            }
            None => fallback_admin.ok_or_else(|| {
                SimError::new(
                    ErrorCode::InvalidEnvironmentSpec,
                    "name the environment's administrator (a user of the tenant)",
                )
                .at("administrator")
            })?,
        };
        let id = match spec.id {
            Some(id) if state.lcs.find_environment(id).is_some() => {
                return Err(SimError::new(
                    ErrorCode::EnvironmentExists,
                    format!("an environment with id {id} already exists"),
                )
                .at("id"));
            }
            Some(id) => id,
            None => EnvironmentId(random_uuid(&mut state.rng)),
        };
        let size_gb = spec.database_size_gb.unwrap_or(DEFAULT_DATABASE_GB);
        if size_gb == 0 || size_gb * 1024 > spec.env_type.max_database_mb() {
            return Err(SimError::new(
                ErrorCode::InvalidEnvironmentSpec,
                format!(
                    "databaseSizeGb must be between 1 and {} for a {} environment",
                    spec.env_type.max_database_mb() / 1024,
                    spec.env_type.as_str()
                ),
            )
            .at("databaseSizeGb"));
        }
        let release = spec.release.unwrap_or(DEFAULT_RELEASE);
        let topology = match spec.topology.as_deref().map(str::trim) {
            Some(t) if t.is_empty() || t.chars().count() > 200 => {
                return Err(SimError::new(
                    ErrorCode::InvalidEnvironmentSpec,
                    "a topology name has 1 to 200 characters",
                )
                .at("topology"));
            }
            t => t.map(str::to_string),
        };
        let url = Self::endpoint_url(state, &spec.name, spec.env_type, infrastructure);
        Ok(FoEnvironment {
            id,
            name: spec.name.clone(),
            env_type: spec.env_type,
            infrastructure,
            region: spec.region.unwrap_or(Region::parse(DEFAULT_REGION)?),
            release,
            administrator,
            url,
            state: EnvironmentState::Deploying,
            deployed_on: None,
            created: now,
            database: Database {
                size_mb: size_gb * 1024,
                release,
                origin: DataOrigin::Deployment,
                as_of: now,
            },
            history: Vec::new(),
            packages: Vec::new(),
            topology,
            integration: None,
        })
    }

    /// The endpoint in the real naming patterns, unique in the tenant.
    pub(super) fn endpoint_url(
        state: &mut TenantState,
        name: &str,
        env_type: EnvironmentType,
        infrastructure: Infrastructure,
    ) -> String {
        let host: String = name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c == '_' { '-' } else { c })
            .collect();
        loop {
            let tag: u32 = state.rng.random();
            let url = match (env_type, infrastructure) {
                (t, Infrastructure::CustomerManaged) if t.is_tier1() => {
                    format!("https://{host}{:08x}devaos.cloudax.dynamics.com/", tag)
                }
                (t, _) if t.is_tier1() => {
                    format!("https://{host}{:08x}.axcloud.dynamics.com/", tag)
                }
                (EnvironmentType::Production, _) => {
                    format!("https://{host}.operations.dynamics.com/")
                }
                _ => format!("https://{host}.sandbox.operations.dynamics.com/"),
            };
            let taken = state.lcs.projects.iter().any(|p| p.has_url(&url));
            if !taken {
                return url;
            }
            // Same name in another project: fall back to a tagged host.
            let tagged = format!("{host}{:04x}", tag & 0xffff);
            if tagged != host {
                return match env_type {
                    EnvironmentType::Production => {
                        format!("https://{tagged}.operations.dynamics.com/")
                    }
                    t if t.is_tier1() => format!("https://{tagged}devaos.cloudax.dynamics.com/"),
                    _ => format!("https://{tagged}.sandbox.operations.dynamics.com/"),
                };
            }
        }
    }

    /// The projects a user is a member of.
    pub fn projects_of(&self, user: ObjectId) -> Vec<&Project> {
        self.state
            .lcs
            .projects
            .iter()
            .filter(|p| p.member(user).is_some())
            .collect()
    }

    /// The project, if `user` may act in it (project owner or environment manager).
    pub fn project_for(&self, project: ProjectId, user: ObjectId) -> Result<&Project, SimError> {
        let p = self.state.lcs.project(project)?;
        match p.member(user) {
            Some(m) if m.role.may_manage() => Ok(p),
            Some(m) => Err(SimError::new(
                ErrorCode::ProjectAccessDenied,
                format!(
                    "You are a {} of project {project}; this needs the Project owner or \
                     Environment manager role. Ask a project owner to change your role",
                    m.role.as_str()
                ),
            )),
            None => Err(SimError::new(
                ErrorCode::ProjectAccessDenied,
                format!(
                    "You are not a member of project {project}, or have not accepted the \
                     invitation. Ask a project owner to add you"
                ),
            )),
        }
    }

    /// Records a call against throttled budgets (see [`Throttles::admit`]).
    pub fn throttle(
        &mut self,
        budgets: &[Budget],
        api: &str,
        now: Timestamp,
    ) -> Result<(), SimError> {
        self.state.lcs.throttles.admit(budgets, api, now)
    }

    /// Creates a project with `owner` as its project owner.
    pub fn create_project(
        &mut self,
        name: &str,
        owner: ObjectId,
        now: Timestamp,
    ) -> Result<ProjectId, SimError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(SimError::new(
                ErrorCode::InvalidName,
                "a project name has 1 to 100 characters",
            )
            .at("name"));
        }
        let id = Self::new_project_id(&mut self.state, None)?;
        let members = vec![Member {
            user: owner,
            role: ProjectRole::Owner,
        }];
        self.state
            .lcs
            .projects
            .push(Project::new(id, name.to_string(), now, members));
        Ok(id)
    }

    /// Adds a tenant user to a project (or changes their role); only project owners may.
    pub fn set_project_member(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        upn: &str,
        role: ProjectRole,
    ) -> Result<(), SimError> {
        let p = self.project_for(project, actor)?;
        if p.member(actor).map(|m| m.role) != Some(ProjectRole::Owner) {
            return Err(SimError::new(
                ErrorCode::ProjectAccessDenied,
                "Only a project owner can add members or change roles",
            ));
        }
        let user = self.state.user(upn).map_err(|e| e.at("upn"))?.object_id;
        let p = self.state.lcs.project_mut(project)?;
        match p.members.iter_mut().find(|m| m.user == user) {
            Some(m) => m.role = role,
            None => p.members.push(Member { user, role }),
        }
        Ok(())
    }

    /// Starts deploying a new environment (portal only).
    pub fn deploy_environment(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        spec: &EnvironmentSpec,
        now: Timestamp,
    ) -> Result<(EnvironmentId, OperationId), SimError> {
        self.project_for(project, actor)?;
        let env = Self::new_environment(&mut self.state, project, spec, Some(actor), now)?;
        let id = env.id;
        self.state.lcs.project_mut(project)?.insert(env);
        let op = self.begin(
            project,
            id,
            Action::Deploy,
            "Deploy environment".into(),
            Via::Portal,
            now,
        )?;
        Ok((id, op))
    }
}
