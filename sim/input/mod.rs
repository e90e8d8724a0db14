//! Inputs that more than one door accepts: the request bodies of the control plane and the portal
//! routes that scenario files use too (tenant, user, application, capacity, governance, fault,
//! project, environment), with their parsing into world specs. Below the surfaces and
//! `scenario`, above `world`: neither HTTP nor scenario files own them.

pub(crate) mod fault;
pub(crate) mod lcs;
pub(crate) mod tenant;
