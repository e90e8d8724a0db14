//! What a surface derives from a tenant and keeps until the tenant changes (rendered parts of
//! its answers), so a read that finds nothing changed does not derive it again.
//!
//! The memo sits inside the [`Tenant`](super::tenant::Tenant), behind the tenant's lock, and
//! is emptied by every change: a [`Settled`](super::Settled) handed out mutably, and a settle
//! that has something due. It holds one value per type, which only its owner knows; the domain
//! never reads it.

use std::any::{Any, TypeId};
use std::cell::RefCell;

/// Values derived from the tenant as it stands, one per type.
#[derive(Default)]
pub struct Memo(RefCell<Vec<(TypeId, Box<dyn Any + Send>)>>);

impl Memo {
    /// Runs `f` with this tenant's value of type `T` (a default one the first time after a
    /// change). `f` must not reach the memo again.
    pub fn with<T: Default + Send + 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut slots = self.0.borrow_mut();
        let at = match slots.iter().position(|(id, _)| *id == TypeId::of::<T>()) {
            Some(at) => at,
            None => {
                slots.push((TypeId::of::<T>(), Box::new(T::default())));
                slots.len() - 1
            }
        };
        match slots[at].1.downcast_mut::<T>() {
            Some(value) => f(value),
            // Unreachable: a slot holds the type it is filed under.
            None => f(&mut T::default()),
        }
    }

    /// Forgets everything derived (the tenant changed).
    pub fn clear(&mut self) {
        self.0.get_mut().clear();
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.try_borrow().map_or(0, |slots| slots.len());
        write!(f, "Memo({held} held)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_kept_per_type_until_cleared() {
        let mut memo = Memo::default();
        memo.with(|n: &mut u32| *n += 1);
        memo.with(|s: &mut String| s.push('x'));
        assert_eq!(memo.with(|n: &mut u32| *n), 1);
        assert_eq!(memo.with(|s: &mut String| s.clone()), "x");
        memo.clear();
        assert_eq!(memo.with(|n: &mut u32| *n), 0);
        assert_eq!(memo.with(|s: &mut String| s.len()), 0);
    }
}
